"""Conformance: pyxnat (PyPI) against `ferry sim --seed demo`.

Usage: python pyxnat_ops.py URL WORKDIR. Every step asserts what it gets back; the script prints one
`ok <step>` line per passed step and exits non-zero on the first failure.
"""
import glob
import os
import sys
import zipfile

from pyxnat import Interface

URL, WORK = sys.argv[1], sys.argv[2]


def ok(step):
    print(f"ok {step}", flush=True)


i = Interface(server=URL, user="admin", password="admin")
assert i.select.project("PILOT").exists()
assert not i.select.project("NOPE").exists()
ok("connect")

# List every level.
assert sorted(i.select.projects().get()) == ["MAIN", "PILOT"]
pilot = i.select.project("PILOT")
subjects = sorted(x.label() for x in pilot.subjects())
assert subjects == ["SUB001", "SUB002", "SUB003", "SUB004", "SUB005", "SUB006"], subjects
exps = sorted(x.label() for x in pilot.experiments())
assert len(exps) == 8 and "SUB004_MR2" in exps, exps
exp = pilot.subject("SUB001").experiment("SUB001_MR1")
assert exp.exists()
assert exp.attrs.get("date") == "2024-01-15", exp.attrs.get("date")
scans = sorted(exp.scans().get())
assert scans == ["1", "2", "3", "4"], scans
assert exp.scan("2").attrs.get("type") == "T1_MPRAGE"
assert [r.label() for r in exp.scan("2").resources()] == ["DICOM"]
files = exp.scan("2").resource("DICOM").files().get()
assert len(files) == 10, files
ok("list every level")

# Download a scan as a zip.
out = os.path.join(WORK, "pyxnat_dl")
os.makedirs(out, exist_ok=True)
exp.scans().download(out, type="T1_MPRAGE", extract=False)
zips = glob.glob(os.path.join(out, "*.zip"))
assert len(zips) == 1, zips
with zipfile.ZipFile(zips[0]) as z:
    dcm = [n for n in z.namelist() if n.endswith(".dcm")]
assert len(dcm) == 10, len(dcm)
ok("download scan zip")

# Upload a DICOM zip through the import service (pyxnat has no wrapper: its HTTP layer does it).
with open(zips[0], "rb") as f:
    body = f.read()
resp = i.post(
    "/data/services/import?project=MAIN&subject=MAIN_003&session=MAIN_003_20240220&dest=/prearchive",
    data=body,
    headers={"Content-Type": "application/zip"},
)
assert resp.status_code == 200, resp.text
uri = resp.text.strip()
assert uri.startswith("/data/prearchive/projects/MAIN/"), uri
rows = i.manage.prearchive.get()
assert any(r[0] == "MAIN" and r[2] == "MAIN_003_20240220" for r in rows), rows
triple = next(r for r in rows if r[0] == "MAIN")
assert i.manage.prearchive.status(triple) == "READY"
assert sorted(i.manage.prearchive.get_scans(triple)) == ["2"]
ok("import into prearchive")

# Archive it from the prearchive.
resp = i.post("/data/services/archive", data={"src": uri[len("/data"):]})
assert resp.status_code == 200, resp.text
assert resp.text.strip() == "/archive/projects/MAIN/subjects/MAIN_003/experiments/MAIN_003_20240220", resp.text
archived = i.select.project("MAIN").subject("MAIN_003").experiment("MAIN_003_20240220")
assert archived.exists()
assert len(archived.scan("2").resource("DICOM").files().get()) == 10
ok("archive from prearchive")

# Share a session into another project under a new label.
src = pilot.subject("SUB005").experiment("SUB005_MR1")
src.share("MAIN", label="MAIN_SHARED_5P")
assert "MAIN_SHARED_5P" in [x.label() for x in i.select.project("MAIN").experiments()]
ok("share session")

# Delete one.
victim = pilot.subject("SUB006").experiment("SUB006_MR2")
victim.delete()
assert not victim.exists()
assert "SUB006_MR2" not in [x.label() for x in pilot.experiments()]
ok("delete session")

i.disconnect()
