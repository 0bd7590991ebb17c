#!/usr/bin/python3
"""Writes the committed seed inputs of the fuzz targets (tests/fuzz/seeds/TARGET/*): small valid
files of every kind each reader accepts, so fuzzing starts from deep inside each format. Run once
after changing it: /usr/bin/python3 tests/fuzz/make_seeds.py. Needs torch, numpy and PIL."""
import collections
import io
import json
import os
import pickle
import struct
import sys

import numpy as np
import torch
from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")
SEP = b"\n@@@@\n"


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def arrays():
    return {
        "f4": np.arange(6, dtype="<f4").reshape(2, 3),
        "f8": np.linspace(0, 1, 4),
        "f2": np.ones((2, 2), dtype="<f2"),
        "u1": np.arange(8, dtype=np.uint8),
        "i1": np.array([-1, 2], dtype=np.int8),
        "i2": np.array([[1, -2]], dtype="<i2"),
        "i4": np.array([7], dtype="<i4"),
        "i8": np.array([1 << 40, -3], dtype="<i8"),
        "b1": np.array([True, False, True]),
        "be": np.arange(3, dtype=">f4"),
        "fortran": np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3)),
        "scalar0d": np.array(3.5, dtype="<f4"),
        "empty": np.zeros((0, 3), dtype="<f4"),
    }


def pickles():
    a = arrays()
    knegt = {"LIDC-IDRI-0001_slice0": {"image": np.zeros((4, 4), np.float32),
                                        "masks": [np.zeros((4, 4), np.uint8)] * 4,
                                        "series_uid": "1.2.3", "pixel_spacing": 0.7}}
    objects = {
        "containers": {"a": [1, 2.5, "x", None, True], "b": (1, (2, 3)), "c": {1, 2},
                       "d": frozenset([3]), "e": b"bytes", "f": bytearray(b"ba"),
                       "g": 1 << 70 >> 10, "h": -(1 << 62), "od": collections.OrderedDict(x=1)},
        "numpy": a,
        "knegt": knegt,
        "shared": [a["f4"], a["f4"]],
        "numpy_scalar": {"s": np.float32(2.0), "t": np.int64(5)},
    }
    for name, obj in objects.items():
        for proto in (2, 3, 4, 5):
            put("pickle", f"{name}_p{proto}.pkl", pickle.dumps(obj, protocol=proto))


def pths():
    lin = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3))
    base = torch.arange(12, dtype=torch.float32)
    objs = {
        "state_dict": lin.state_dict(),
        "wrapped": {"model": lin.state_dict(), "epoch": 3, "lr": 1e-4, "name": "x"},
        "views": {"a": base[2:8].view(2, 3), "b": base[::2], "c": base.view(3, 4).t()},
        "dtypes": {"f16": torch.ones(2, dtype=torch.float16), "bf16": torch.ones(2, dtype=torch.bfloat16),
                   "i64": torch.arange(3), "b": torch.tensor([True, False]), "u8": torch.arange(4, dtype=torch.uint8),
                   "f64": torch.zeros(1, dtype=torch.float64), "i32": torch.ones(2, dtype=torch.int32)},
        "params": {"p": torch.nn.Parameter(torch.ones(2, 2)), "list": [torch.zeros(1), (torch.ones(1), 2)]},
        "numpy_inside": {"arr": np.arange(4, dtype=np.float32), "t": torch.ones(1)},
        "scalar": torch.tensor(5.0),
    }
    for name, obj in objs.items():
        buf = io.BytesIO()
        torch.save(obj, buf)
        put("pth", f"{name}.pth", buf.getvalue())
        buf = io.BytesIO()
        torch.save(obj, buf, pickle_protocol=4)
        put("pth", f"{name}_p4.pth", buf.getvalue())


def safetensors_bytes(tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, (dtype, arr) in tensors.items():
        raw = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def safetensors():
    a = arrays()
    put("safetensors", "basic.safetensors", safetensors_bytes(
        {"w": ("F32", a["f4"]), "b": ("F64", a["f8"]), "h": ("F16", a["f2"])}, {"format": "pt"}))
    put("safetensors", "ints.safetensors", safetensors_bytes(
        {"u": ("U8", a["u1"]), "i": ("I8", a["i1"]), "s": ("I16", a["i2"]), "l": ("I64", a["i8"]),
         "k": ("I32", a["i4"]), "z": ("BOOL", a["b1"]), "bf": ("BF16", np.ones(2, "<u2"))}))
    put("safetensors", "empty.safetensors", safetensors_bytes({"e": ("F32", a["empty"]), "s": ("F32", a["scalar0d"])}))
    put("safetensors", "metadata_only.safetensors", safetensors_bytes({}, {"k": "v"}))


def npys():
    for name, arr in arrays().items():
        buf = io.BytesIO()
        np.save(buf, arr)
        put("npy", f"{name}.npy", buf.getvalue())
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.arange(4, dtype="<f4"), version=(2, 0))
    put("npy", "v2.npy", buf.getvalue())
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.arange(4, dtype="<i2"), version=(3, 0))
    put("npy", "v3.npy", buf.getvalue())


CONFIG_MAIN = """_base_: [b.yaml, c.yaml]
run:
  name: tiny
  seed: 3
  device: cpu
model:
  latent_net: reference
  latent_dim: 3
  sam: {img_size: 32, patch_size: 8, encoder_embed_dim: 16, encoder_depth: 2,
        encoder_global_attn_indexes: [1], prompt_embed_dim: 16}
data:
  store: /nonexistent
  loader: {batch_size: 4, intensity: window, window_center: -600, window_width: 1500}
train.lr: 1e-3
loss: {beta: 1.0e-3, kl_warmup_steps: 100}
"""
CONFIG_B = """model:
  preset: vit_b
  trainable: {image_encoder: false, mask_decoder: true}
train:
  optimizer: adamw
  betas: [0.9, 0.999]
  schedule: cosine
  epochs: 2
"""
CONFIG_C = """_base_: b.yaml
eval: {samples: 4, prompt: union}
data: {train_split: train, val_split: val}
"""


def configs():
    put("config", "bases.txt", CONFIG_MAIN.encode() + SEP + CONFIG_B.encode() + SEP + CONFIG_C.encode()
        + SEP + b"train.epochs=3\nrun.seed=7\nmodel.sam.encoder_global_attn_indexes=[0,1]")
    put("config", "flat.txt", "run: {name: x}\ntrain: {lr: 0.1, max_steps: 5}\n")
    put("config", "anchors.txt", "defaults: &d {lr: 0.5}\ntrain: *d\n")
    put("config", "cycle.txt", b"_base_: b.yaml\n" + SEP + b"_base_: main.yaml\n")
    for path in sorted(os.listdir(os.path.join(ROOT, "..", "..", "..", "configs"))):
        full = os.path.join(ROOT, "..", "..", "..", "configs", path)
        if path.endswith(".yaml"):
            with open(full, "rb") as f:
                put("config", "shipped_" + path, f.read().replace(b"_base_/", b""))


def store():
    info = {"format": "psam-dataset", "version": 1, "name": "fuzz", "count": 4, "annotators": 2,
            "height": 8, "width": 8, "channels": 1, "image_dtype": "float32", "intensity": "hu",
            "provenance": {"source": "fuzz", "options": {"n": 4}}}
    meta = "".join(json.dumps({"id": f"s{i}", "patient_id": f"p{i // 2}", "series_uid": "1.2",
                               "z": i * 2.5, "extra": [i]}) + "\n" for i in range(4))
    splits = {"unit": "patient", "description": "d", "sets": {"train": ["p0"], "val": ["p1"], "test": []}}
    put("store", "valid.txt", json.dumps(info).encode() + SEP + meta.encode() + SEP + json.dumps(splits).encode())
    splits_img = {"unit": "image", "sets": {"train": ["s0", "s1"], "test": ["s2", "s3"]}}
    put("store", "image_split.txt", json.dumps(info).encode() + SEP + meta.encode() + SEP + json.dumps(splits_img).encode())


LIDC = """<?xml version="1.0" encoding="UTF-8"?>
<LidcReadMessage xmlns="http://www.nih.gov" uid="1">
<ResponseHeader><Version>1.8.1</Version><SeriesInstanceUid>1.2.3</SeriesInstanceUid>
<StudyInstanceUID>1.2</StudyInstanceUID></ResponseHeader>
{sessions}
</LidcReadMessage>
"""
SESSION = """<readingSession><annotationVersion>3.12</annotationVersion>
<servicingRadiologistID>{rid}</servicingRadiologistID>
<unblindedReadNodule><noduleID>{nid}</noduleID>
<characteristics><subtlety>5</subtlety><malignancy>3</malignancy></characteristics>
<roi><imageZposition>-100.5 </imageZposition><imageSOP_UID>1.2.3.4</imageSOP_UID><inclusion>TRUE</inclusion>
{edge}</roi>
<roi><imageZposition>-103.0</imageZposition><imageSOP_UID>1.2.3.5</imageSOP_UID><inclusion>FALSE</inclusion>
<edgeMap><xCoord>12</xCoord><yCoord>12</yCoord></edgeMap><edgeMap><xCoord>13</xCoord><yCoord>14</yCoord></edgeMap></roi>
</unblindedReadNodule>
<unblindedReadNodule><noduleID>small</noduleID><roi><imageZposition>-90</imageZposition>
<imageSOP_UID>1.2.3.9</imageSOP_UID><inclusion>TRUE</inclusion><edgeMap><xCoord>40</xCoord><yCoord>41</yCoord></edgeMap></roi>
</unblindedReadNodule>
<nonNodule><nonNoduleID>n1</nonNoduleID><imageZposition>-95</imageZposition><imageSOP_UID>1.2.3.7</imageSOP_UID>
<locus><xCoord>30</xCoord><yCoord>31</yCoord></locus></nonNodule>
</readingSession>"""


def lidc():
    def edge(points):
        return "".join(f"<edgeMap><xCoord>{x}</xCoord><yCoord>{y}</yCoord></edgeMap>" for x, y in points)
    square = [(10, 10), (15, 10), (15, 15), (10, 15), (10, 10)]
    tri = [(11, 9), (17, 12), (11, 16), (11, 9)]
    sessions = SESSION.format(rid="anon", nid="1", edge=edge(square)) + SESSION.format(rid="502", nid="IL057", edge=edge(tri))
    put("lidc_xml", "two_readers.xml", LIDC.format(sessions=sessions))
    put("lidc_xml", "prefixed.xml", LIDC.format(sessions=sessions).replace("<", "<nih:").replace("<nih:/", "</nih:")
        .replace("<nih:?xml", "<?xml").replace('xmlns="', 'xmlns:nih="'))
    put("lidc_xml", "chest.xml", '<?xml version="1.0"?><IdriReadMessage><ResponseHeader><Version>1</Version>'
        "<SeriesInstanceUID>1.2</SeriesInstanceUID></ResponseHeader></IdriReadMessage>")


def images():
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8)
    rgb = np.stack([grey, grey[::-1], grey.T], -1)
    variants = {"grey.png": (Image.fromarray(grey), "PNG"), "rgb.png": (Image.fromarray(rgb), "PNG"),
                "rgba.png": (Image.fromarray(np.dstack([rgb, grey])), "PNG"),
                "grey16.png": (Image.fromarray(grey.astype(np.uint16) * 256), "PNG"),
                "palette.png": (Image.fromarray(rgb).convert("P"), "PNG"),
                "rgb.jpg": (Image.fromarray(rgb), "JPEG"), "grey.jpg": (Image.fromarray(grey), "JPEG"),
                "rgb.bmp": (Image.fromarray(rgb), "BMP"), "rgb.tiff": (Image.fromarray(rgb), "TIFF"),
                "grey.pgm": (Image.fromarray(grey), "PPM"), "rgb.ppm": (Image.fromarray(rgb), "PPM")}
    for name, (img, fmt) in variants.items():
        buf = io.BytesIO()
        img.save(buf, fmt, **({"progressive": True} if name == "grey.jpg" else {}))
        put("image", name, buf.getvalue())


def dicom_element(group, element, vr, value):
    if isinstance(value, str):
        value = value.encode()
        if len(value) % 2:
            value += b"\0" if vr == "UI" else b" "
    if vr in ("OB", "OW", "SQ", "UN", "UT"):
        return struct.pack("<HH2sHI", group, element, vr.encode(), 0, len(value)) + value
    return struct.pack("<HH2sH", group, element, vr.encode(), len(value)) + value


def dicoms():
    def file(rows, cols, bits, signed, pixels, syntax="1.2.840.10008.1.2.1", extra=b""):
        meta_body = (dicom_element(0x0002, 0x0001, "OB", b"\0\1") +
                     dicom_element(0x0002, 0x0002, "UI", "1.2.840.10008.5.1.4.1.1.2") +
                     dicom_element(0x0002, 0x0003, "UI", "1.2.3.4.5") +
                     dicom_element(0x0002, 0x0010, "UI", syntax))
        meta = dicom_element(0x0002, 0x0000, "UL", struct.pack("<I", len(meta_body))) + meta_body
        ds = (dicom_element(0x0008, 0x0018, "UI", "1.2.3.4.5") + dicom_element(0x0008, 0x0060, "CS", "CT") +
              dicom_element(0x0010, 0x0020, "LO", "LIDC-IDRI-0001") +
              dicom_element(0x0018, 0x0050, "DS", "2.5") +
              dicom_element(0x0020, 0x000D, "UI", "1.2.3") + dicom_element(0x0020, 0x000E, "UI", "1.2.3.4") +
              dicom_element(0x0020, 0x0013, "IS", "7") +
              dicom_element(0x0020, 0x0032, "DS", "-150\\-150\\-100.5") +
              dicom_element(0x0020, 0x0037, "DS", "1\\0\\0\\0\\1\\0") + extra +
              dicom_element(0x0028, 0x0002, "US", struct.pack("<H", 1)) +
              dicom_element(0x0028, 0x0004, "CS", "MONOCHROME2") +
              dicom_element(0x0028, 0x0010, "US", struct.pack("<H", rows)) +
              dicom_element(0x0028, 0x0011, "US", struct.pack("<H", cols)) +
              dicom_element(0x0028, 0x0030, "DS", "0.7\\0.7") +
              dicom_element(0x0028, 0x0100, "US", struct.pack("<H", bits)) +
              dicom_element(0x0028, 0x0101, "US", struct.pack("<H", 12 if bits == 16 else 8)) +
              dicom_element(0x0028, 0x0102, "US", struct.pack("<H", 11 if bits == 16 else 7)) +
              dicom_element(0x0028, 0x0103, "US", struct.pack("<H", signed)) +
              dicom_element(0x0028, 0x1050, "DS", "-600") + dicom_element(0x0028, 0x1051, "DS", "1500") +
              dicom_element(0x0028, 0x1052, "DS", "-1024") + dicom_element(0x0028, 0x1053, "DS", "1") +
              dicom_element(0x7FE0, 0x0010, "OW" if bits == 16 else "OB", pixels))
        return b"\0" * 128 + b"DICM" + meta + ds
    put("dicom", "ct16.dcm", file(4, 6, 16, 1, np.arange(24, dtype="<i2").tobytes()))
    put("dicom", "ct8.dcm", file(4, 4, 8, 0, np.arange(16, dtype=np.uint8).tobytes()))
    put("dicom", "frames.dcm", file(2, 2, 16, 0, np.arange(8, dtype="<u2").tobytes(),
                                    extra=dicom_element(0x0028, 0x0008, "IS", "2")))


if __name__ == "__main__":
    pickles(); pths(); safetensors(); npys(); configs(); store(); lidc(); images(); dicoms()
    print("seeds written to", ROOT, file=sys.stderr)
