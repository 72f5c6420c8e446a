"""One image: find it safely inside its folder, read it, check it, and make it an RGB JPEG.

Every failure is an ImageRejected with a reason from SKIP_REASONS, so the caller can count
and list it; nothing here decides to drop an image silently.
"""

from __future__ import annotations

import io
import os
import posixpath
import stat
import warnings
from dataclasses import dataclass

import numpy as np
import simplejpeg
from PIL import Image, ImageOps, UnidentifiedImageError

from components.coco_example_gen import storage

MISSING = "missing"
UNREADABLE = "unreadable"
EMPTY_FILE = "empty_file"
TRUNCATED = "truncated"
CORRUPT = "corrupt"
DECOMPRESSION_BOMB = "decompression_bomb"
OUTSIDE_IMAGE_DIR = "outside_image_dir"
NOT_A_REGULAR_FILE = "not_a_regular_file"  # a directory, named pipe, device or socket
SKIP_REASONS = (
    MISSING,
    UNREADABLE,
    EMPTY_FILE,
    TRUNCATED,
    CORRUPT,
    DECOMPRESSION_BOMB,
    OUTSIDE_IMAGE_DIR,
    NOT_A_REGULAR_FILE,
)

JPEG_QUALITY = 95
_EXIF_ORIENTATION = 0x0112
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")


class ImageRejected(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class JpegImage:
    data: bytes
    height: int
    width: int
    reencoded: bool


def image_path(image_dir: str, file_name: str) -> str:
    """The path of `file_name` inside `image_dir`; rejects names that leave the folder."""
    if (
        not file_name
        or file_name.startswith(("/", "\\"))
        or "://" in file_name
        or (len(file_name) > 1 and file_name[1] == ":")
    ):
        raise ImageRejected(OUTSIDE_IMAGE_DIR, f"{file_name!r} is an absolute path")
    normalized = posixpath.normpath(file_name)
    if normalized == ".." or normalized.startswith("../"):
        raise ImageRejected(OUTSIDE_IMAGE_DIR, f"{file_name!r} leaves the image folder")
    return storage.join(image_dir, normalized)


def read_image_file(image_dir: str, file_name: str) -> bytes:
    path = image_path(image_dir, file_name)
    if not storage.is_remote(path):
        # A symlink inside the folder may point anywhere; judge where it really leads.
        real_dir = os.path.realpath(image_dir)
        if not os.path.realpath(path).startswith(real_dir + os.sep):
            raise ImageRejected(OUTSIDE_IMAGE_DIR, f"{file_name!r} resolves outside {image_dir}")
    try:
        return storage.read_bytes(path) if storage.is_remote(path) else _read_regular_file(path)
    except ImageRejected:
        raise
    except FileNotFoundError:
        raise ImageRejected(MISSING, f"no file at {path}") from None
    except OSError as e:  # no permission, a symlink loop, I/O error
        raise ImageRejected(UNREADABLE, f"{path}: {e.strerror or e}") from None
    except Exception as e:  # remote file systems raise their own error types
        raise ImageRejected(UNREADABLE, f"{path}: {type(e).__name__}: {e}") from None


_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _read_regular_file(path: str) -> bytes:
    """The bytes of a regular file. Opened non-blocking and checked on the open descriptor
    (no race with a stat beforehand): reading a named pipe would wait forever, a device
    may never end."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        _check_regular(path, os.stat(path).st_mode)  # a socket cannot even be opened
        raise
    try:
        _check_regular(path, os.fstat(fd).st_mode)
    except ImageRejected:
        os.close(fd)
        raise
    with open(fd, "rb") as f:
        return f.read()


def _check_regular(path: str, mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")
        raise ImageRejected(NOT_A_REGULAR_FILE, f"{path} is {kind}")


def to_jpeg(data: bytes, max_pixels: int) -> JpegImage:
    """Checks the image fully and returns it as an RGB JPEG with EXIF rotation applied.

    A JPEG that is already RGB and upright is kept byte for byte; anything else is
    re-encoded. The pixel count is checked from the header, before any decoding.
    """
    if not data:
        raise ImageRejected(EMPTY_FILE, "the file has zero bytes")
    image = _open(data)
    width, height = image.size
    if width * height > max_pixels:
        raise ImageRejected(
            DECOMPRESSION_BOMB, f"{width}x{height} = {width * height} pixels > {max_pixels}"
        )
    if image.format != "JPEG" or not _jpeg_decodes_cleanly(data):
        _decode(image)
        if image.format == "JPEG":
            _check_jpeg_scan_data(data)
    orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
    if image.format == "JPEG" and image.mode == "RGB" and orientation == 1:
        return JpegImage(data, height, width, reencoded=False)
    try:
        rgb = _to_rgb(ImageOps.exif_transpose(image))
    except (ValueError, OSError) as e:
        raise ImageRejected(CORRUPT, f"cannot convert {image.mode} to RGB: {e}") from None
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=JPEG_QUALITY)
    return JpegImage(out.getvalue(), rgb.height, rgb.width, reencoded=True)


def _open(data: bytes) -> Image.Image:
    # Image.open reads only the header. PIL's process-wide MAX_IMAGE_PIXELS is left
    # alone (other components share the process); its error above 2x that limit still
    # counts as a bomb, and our own max_pixels check runs before anything is decoded.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as e:
        raise ImageRejected(DECOMPRESSION_BOMB, str(e)) from None
    except UnidentifiedImageError:
        raise ImageRejected(CORRUPT, "not a recognised image format") from None
    except Exception as e:  # decoders raise many types on garbage headers
        raise ImageRejected(CORRUPT, f"bad header: {type(e).__name__}: {e}") from None


def _decode(image: Image.Image) -> None:
    try:
        image.load()
    except OSError as e:
        message = str(e)
        reason = TRUNCATED if "truncated" in message.lower() else CORRUPT
        raise ImageRejected(reason, message) from None
    except Exception as e:  # SyntaxError, zlib.error, struct.error, EOFError, ...
        raise ImageRejected(CORRUPT, f"{type(e).__name__}: {e}") from None


# libjpeg's one warning that leaves every pixel intact: junk after the last scan, before
# the end-of-image marker (some COCO files have it).
_HARMLESS_JPEG_WARNING = "extraneous bytes before marker 0xd9"


def _jpeg_decodes_cleanly(data: bytes) -> bool:
    """Whether libjpeg-turbo (simplejpeg, strict) decodes every pixel without a warning.
    Then Pillow's decode (libjpeg-turbo too) would find nothing more: skipping it halves
    the decoding of a typical collection, where almost every file is a good JPEG."""
    try:
        simplejpeg.decode_jpeg(data, strict=True)
    except ValueError:
        return False
    return True


def _check_jpeg_scan_data(data: bytes) -> None:
    """Pillow's JPEG decoder drops libjpeg's warnings, so damaged scan data decodes to gray
    or smeared blocks without a word. libjpeg-turbo through simplejpeg (strict) raises them:
    a warning that a lenient decode gets past is damage the decoder recovered from."""
    try:
        simplejpeg.decode_jpeg(data, strict=True)
        return
    except ValueError as e:
        warning = str(e)
    try:
        simplejpeg.decode_jpeg(data, strict=False)
    except ValueError:
        return  # a JPEG flavour TurboJPEG cannot convert (CMYK, 12-bit): Pillow's decode stands
    if _HARMLESS_JPEG_WARNING in warning:
        return
    reason = TRUNCATED if "premature end of jpeg file" in warning.lower() else CORRUPT
    raise ImageRejected(reason, f"damaged JPEG data: {warning}")


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in _SIXTEEN_BIT_MODES or image.mode in ("I", "F"):
        pixels = np.asarray(image, dtype=np.float64)
        if image.mode in _SIXTEEN_BIT_MODES or pixels.max(initial=0) > 255:
            pixels = pixels / 257.0  # 16-bit range to 8-bit
        return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8)).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")
