"""Signature and photo uploads: checked by content (Pillow), bounded in size, stored by random name."""

from __future__ import annotations

import base64
import binascii
import io
import uuid

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, UnidentifiedImageError

MAX_BYTES = 5 * 1024 * 1024
ALLOWED_FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}
DATA_URL_PREFIX = "data:image/png;base64,"
DRAFT_DIR = "intake-drafts"


class UploadError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _check_image(raw: bytes, *, what: str) -> str:
    if len(raw) > MAX_BYTES:
        raise UploadError(f"{what}文件过大（{len(raw) / 1024 / 1024:.1f} MB），不能超过 5 MB。")
    if not raw:
        raise UploadError(f"{what}是空文件。")
    try:
        with Image.open(io.BytesIO(raw)) as img:
            fmt = img.format
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise UploadError(f"{what}不是有效的图片，请上传 JPG 或 PNG 格式的照片。") from None
    if fmt not in ALLOWED_FORMATS:
        raise UploadError(f"{what}格式为 {fmt}，只接受 JPG、PNG 或 WEBP 图片。")
    return ALLOWED_FORMATS[fmt]


def store_photo(upload, *, what: str = "授权书照片") -> str:
    """Validate an uploaded photo and store it under a random name; return the storage name."""
    if upload.size > MAX_BYTES:
        raise UploadError(f"{what}文件过大（{upload.size / 1024 / 1024:.1f} MB），不能超过 5 MB。")
    raw = upload.read()
    ext = _check_image(raw, what=what)
    return default_storage.save(f"{DRAFT_DIR}/{uuid.uuid4().hex}.{ext}", ContentFile(raw))


def store_signature(data_url: str, *, what: str = "签名") -> str:
    """A PNG data URL from the signature canvas; refuse an empty canvas."""
    if not data_url.startswith(DATA_URL_PREFIX):
        raise UploadError(f"{what}数据无效，请重新签名。")
    try:
        raw = base64.b64decode(data_url[len(DATA_URL_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise UploadError(f"{what}数据无效，请重新签名。") from None
    ext = _check_image(raw, what=what)
    with Image.open(io.BytesIO(raw)) as img:
        alpha = img.convert("RGBA").getchannel("A")
        if alpha.getbbox() is None:
            raise UploadError(f"{what}为空白，请在签名框内手写签名。")
    return default_storage.save(f"{DRAFT_DIR}/{uuid.uuid4().hex}.{ext}", ContentFile(raw))
