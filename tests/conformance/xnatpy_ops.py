"""Conformance: xnatpy (PyPI `xnat`) against `ferry sim --seed demo`.

Usage: python xnatpy_ops.py URL WORKDIR. Every step asserts what it gets back; the script prints one
`ok <step>` line per passed step and exits non-zero on the first failure.
"""
import os
import sys
import zipfile

import xnat

URL, WORK = sys.argv[1], sys.argv[2]


def ok(step):
    print(f"ok {step}", flush=True)


with xnat.connect(URL, user="admin", password="admin", loglevel="ERROR") as s:
    assert s.xnat_version.startswith("1.8"), s.xnat_version
    ok("connect")

    # List every level.
    assert sorted(s.projects.keys()) == ["MAIN", "PILOT"], list(s.projects.keys())
    pilot = s.projects["PILOT"]
    assert pilot.name == "Pilot study"
    labels = sorted(x.label for x in pilot.subjects.values())
    assert labels == ["SUB001", "SUB002", "SUB003", "SUB004", "SUB005", "SUB006"], labels
    sub4 = pilot.subjects["SUB004"]
    assert sorted(e.label for e in sub4.experiments.values()) == ["SUB004_MR1", "SUB004_MR2"]
    assert len(pilot.experiments) == 8
    exp = pilot.experiments["SUB001_MR1"]
    assert exp.id.startswith("XNAT_E") and exp.id != exp.label
    assert str(exp.date) == "2024-01-15", exp.date
    assert exp.__xsi_type__ == "xnat:mrSessionData"
    scans = {sc.id: sc.type for sc in exp.scans.values()}
    assert scans == {"1": "localizer", "2": "T1_MPRAGE", "3": "BOLD_rest", "4": "DTI_64dir"}, scans
    scan = exp.scans["2"]
    assert scan.series_description == "T1_MPRAGE"
    assert list(scan.resources.keys())[0] is not None
    res = scan.resources["DICOM"]
    assert len(res.files) == 10, len(res.files)
    assert len(exp.resources["NOTES"].files) == 1
    ok("list every level")

    # Download a scan as a zip, and a whole session.
    scan_zip = os.path.join(WORK, "scan2.zip")
    scan.download(scan_zip)
    with zipfile.ZipFile(scan_zip) as z:
        dcm = [n for n in z.namelist() if n.endswith(".dcm")]
    assert len(dcm) == 10, dcm
    sess_zip = os.path.join(WORK, "session.zip")
    exp.download(sess_zip)
    with zipfile.ZipFile(sess_zip) as z:
        assert len(z.namelist()) == 40, len(z.namelist())
    ok("download scan zip")

    # Upload a DICOM zip through the import service into the prearchive.
    pre = s.services.import_(
        scan_zip, project="MAIN", subject="MAIN_001", experiment="MAIN_001_20240115", destination="/prearchive"
    )
    assert pre.status == "READY", pre.status
    assert pre.label == "MAIN_001_20240115" if hasattr(pre, "label") else True
    listed = [p for p in s.prearchive.sessions() if p.project == "MAIN"]
    assert len(listed) == 1, listed
    ok("import into prearchive")

    # Archive it from the prearchive.
    archived = pre.archive()
    assert archived.label == "MAIN_001_20240115", archived.label
    main = s.projects["MAIN"]
    main.clearcache()
    assert "MAIN_001_20240115" in [e.label for e in main.experiments.values()]
    new = main.experiments["MAIN_001_20240115"]
    assert len(new.scans["2"].resources["DICOM"].files) == 10
    assert not [p for p in s.prearchive.sessions() if p.project == "MAIN"]
    ok("archive from prearchive")

    # Import straight into the archive.
    direct = s.services.import_(
        scan_zip, project="MAIN", subject="MAIN_005", experiment="MAIN_005_20240312", destination="/archive"
    )
    assert direct.label == "MAIN_005_20240312", direct.label
    ok("import into archive")

    # Share a session into another project under a new label.
    exp5 = pilot.experiments["SUB005_MR1"]
    exp5.share("MAIN", label="MAIN_SHARED_5")
    main.clearcache()
    # xnatpy caches objects by accession ID, so read the listing's own labels.
    shared = [row["label"] for row in s.get_json("/data/projects/MAIN/experiments")["ResultSet"]["Result"]]
    assert "MAIN_SHARED_5" in shared, shared
    assert "MAIN_SHARED_5" in main.experiments, list(main.experiments.keys())
    ok("share session")

    # Delete one.
    victim = pilot.experiments["SUB006_MR2"]
    victim.delete()
    pilot.clearcache()
    assert "SUB006_MR2" not in [e.label for e in pilot.experiments.values()]
    ok("delete session")
