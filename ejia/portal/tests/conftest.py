import pytest


@pytest.fixture
def catalogue(org):
    """The seed catalogue: 69 programmes, version 1 published, the 2023 standards."""
    from ejia.catalogue.seed import catalogue_seed

    catalogue_seed()
    return org
