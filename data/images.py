"""Image decoding and resizing shared by the get_data scripts."""
import gzip
import io

import numpy as np
from PIL import Image

# The original scripts call `img.resize((32, 32))` without a filter.  Pillow's
# default filter for resize is BICUBIC since Pillow 7.0 (Jan 2020, what the
# original README's `pip install Pillow` gave); we name it explicitly so the
# output does not depend on the installed Pillow version.
RESAMPLE = Image.BICUBIC


def unit_float(images):
  """uint8 pixels -> float32 in [0, 1] (the originals divide by 255)."""
  return np.asarray(images, np.float32) / np.float32(255.0)


def resize_rgb(img, size):
  """PIL image -> uint8 RGB array of `size` (w, h), as the originals do."""
  return np.asarray(img.convert('RGB').resize(size, RESAMPLE), np.uint8)


def decode_rgb(data, size, box=None):
  """Encoded image bytes -> uint8 RGB array of `size`, optionally cropped."""
  img = Image.open(io.BytesIO(data))
  if box is not None:
    img = img.crop(box)
  return resize_rgb(img, size)


def jpeg_roundtrip(rgb, quality=75):
  """Encode/decode as JPEG (PIL's default quality), as a lossy copy would."""
  buf = io.BytesIO()
  Image.fromarray(rgb).save(buf, format='JPEG', quality=quality)
  buf.seek(0)
  return np.asarray(Image.open(buf).convert('RGB'), np.uint8)


def read_idx_gz(path):
  """Array stored in a gzip'ed IDX file (MNIST format: magic, dims, data)."""
  with gzip.open(path, 'rb') as f:
    raw = f.read()
  magic = int.from_bytes(raw[:4], 'big')
  if magic >> 8 != 0x08:  # 0x08 = unsigned byte; low byte = number of dims
    raise ValueError('not an unsigned-byte IDX file (magic %#x)' % magic)
  ndim = magic & 0xff
  dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim)]
  data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
  return data.reshape(dims)


def decode_by_class(path, class_of, size, box_of=None):
  """{class: uint8 [N_c, h, w, 3]} from the images of an archive or folder.

  `class_of(member name)` gives the class of a member, or None to skip it;
  `box_of(member name)` an optional crop box.  Images of a class are ordered
  by member name, so the output does not depend on the archive's order.
  """
  from data import archive, download  # late: archive imports download
  found = {}
  for name, data in archive.iter_members(path, lambda n: class_of(n) is not None):
    with download.reading(path):
      rgb = decode_rgb(data, size, box_of(name) if box_of else None)
    found.setdefault(class_of(name), []).append((name, rgb))
  return {c: np.stack([rgb for _, rgb in sorted(items, key=lambda t: t[0])])
          for c, items in found.items()}
