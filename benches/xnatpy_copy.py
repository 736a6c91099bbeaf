"""The copy XNAT users script today with xnatpy: download each session of a project as a zip and upload
it through the import service into another project, one session at a time, no processing.

Usage: python xnatpy_copy.py URL USER PASSWORD SRC_PROJECT DST_PROJECT WORKDIR
Prints the bytes moved and the seconds taken as `bytes=N seconds=S`.
"""
import os
import sys
import time

import xnat


def main():
    url, user, password, src, dst, work = sys.argv[1:7]
    moved = 0
    start = time.monotonic()
    with xnat.connect(url, user=user, password=password) as session:
        project = session.projects[src]
        for subject in project.subjects.values():
            for experiment in subject.experiments.values():
                path = os.path.join(work, f"{experiment.label}.zip")
                experiment.download(path, verbose=False)
                moved += os.path.getsize(path)
                session.services.import_(
                    path,
                    project=dst,
                    subject=f"P_{subject.label}",
                    experiment=f"P_{experiment.label}",
                    destination="/archive",
                    import_handler="DICOM-zip",
                )
                os.remove(path)
    print(f"bytes={moved} seconds={time.monotonic() - start:.3f}")


if __name__ == "__main__":
    main()
