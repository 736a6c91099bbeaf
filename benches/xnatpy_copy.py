"""The copy XNAT users script today with xnatpy: for each session of a project, download the selected
scans as one zip and upload it through the import service into a project on another server, one
session at a time, no processing. It selects what ferry's bench manifest selects (every scan whose
type does not start with `localizer`) and counts the bytes of the DICOM files it moved.

Usage: python xnatpy_copy.py SRC_URL DST_URL USER PASSWORD SRC_PROJECT DST_PROJECT WORKDIR
Prints `bytes=N sessions=S seconds=T`, timed from the first login to the last upload.
"""
import os
import sys
import time
import zipfile

import xnat


def main():
    src_url, dst_url, user, password, src_project, dst_project, work = sys.argv[1:8]
    moved = 0
    sessions = 0
    start = time.monotonic()
    with xnat.connect(src_url, user=user, password=password) as src, xnat.connect(
        dst_url, user=user, password=password
    ) as dst:
        for subject in src.projects[src_project].subjects.values():
            for experiment in subject.experiments.values():
                scans = [
                    s.id
                    for s in experiment.scans.values()
                    if not (s.type or "").startswith("localizer")
                ]
                if not scans:
                    continue
                path = os.path.join(work, "session.zip")
                uri = f"/data/experiments/{experiment.id}/scans/{','.join(scans)}/files"
                src.download(uri, path, format="zip", verbose=False)
                with zipfile.ZipFile(path) as z:
                    moved += sum(i.file_size for i in z.infolist() if not i.is_dir())
                dst.services.import_(
                    path,
                    project=dst_project,
                    subject=f"P_{subject.label}",
                    experiment=f"P_{experiment.label}",
                    destination="/archive",
                    import_handler="DICOM-zip",
                )
                os.remove(path)
                sessions += 1
    print(f"bytes={moved} sessions={sessions} seconds={time.monotonic() - start:.3f}")


if __name__ == "__main__":
    main()
