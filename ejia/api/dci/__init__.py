"""DCI Social Registry interface (SPDCI social_api v1.0.0): envelopes, signatures, queries and
the mapping of our registry to Group/Member records. See docs/api.md, section DCI."""
