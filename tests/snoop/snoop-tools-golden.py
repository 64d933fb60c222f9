#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Golden tests of podscope-snoop merge, diff, summary and unused (TAP).

The reports in data/ go in; the output must equal data/*.golden byte for byte.
Set PDS_UPDATE_GOLDEN=1 to rewrite the golden files after a deliberate change.
"""
import io
import os
import subprocess
import sys
import tarfile
import tempfile

BUILD = os.environ["PDS_BUILD_ROOT"]
SNOOP = os.path.join(BUILD, "snoop", "podscope-snoop")
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
A = os.path.join(DATA, "report-a.json")
B = os.path.join(DATA, "report-b.json")


def make_root(tmp):
    """A directory and a tar.gz holding the files listed in data/rootfs.txt."""
    root = os.path.join(tmp, "rootfs")
    tar_path = os.path.join(tmp, "rootfs.tar.gz")
    entries = []
    with open(os.path.join(DATA, "rootfs.txt")) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                path, size = line.split()
                entries.append((path, int(size)))
    with tarfile.open(tar_path, "w:gz", format=tarfile.GNU_FORMAT) as tar:
        for path, size in entries:
            full = os.path.join(root, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "wb") as out:
                out.write(b"x" * size)
            info = tarfile.TarInfo("./" + path)
            info.size = size
            tar.addfile(info, io.BytesIO(b"x" * size))
        # A symbolic link, as images have.
        os.symlink("busybox", os.path.join(root, "bin", "sh"))
        info = tarfile.TarInfo("./bin/sh")
        info.type = tarfile.SYMTYPE
        info.linkname = "busybox"
        tar.addfile(info)
    return root, tar_path


def main():
    n = 0
    failed = 0
    update = os.environ.get("PDS_UPDATE_GOLDEN") == "1"
    with tempfile.TemporaryDirectory(prefix="pds-snoop-golden-") as tmp:
        root, tar_path = make_root(tmp)
        merged = os.path.join(tmp, "merged.json")
        cases = [
            ("merge", [SNOOP, "merge", "-o", merged, A, B], "merge.golden", merged),
            ("diff", [SNOOP, "diff", A, B], "diff.golden", None),
            ("summary", [SNOOP, "summary", "--depth", "2", A], "summary.golden", None),
            ("unused (directory)", [SNOOP, "unused", "--root", root, A, B], "unused.golden",
             None),
            ("unused (tar.gz)", [SNOOP, "unused", "--root", tar_path, A, B],
             "unused.golden", None),
        ]
        for name, cmd, golden, out_file in cases:
            n += 1
            r = subprocess.run(cmd, capture_output=True, text=True)
            got = r.stdout
            if out_file is not None and r.returncode == 0:
                with open(out_file) as f:
                    got = f.read()
            golden_path = os.path.join(DATA, golden)
            if update and r.returncode == 0 and name != "unused (tar.gz)":
                with open(golden_path, "w") as f:
                    f.write(got)
            with open(golden_path) as f:
                want = f.read()
            ok = r.returncode == 0 and got == want
            print("%s %d - %s" % ("ok" if ok else "not ok", n, name))
            if not ok:
                failed += 1
                print("# rc=%d stderr=%s" % (r.returncode, r.stderr.strip()))
                for line in got.splitlines()[:40]:
                    print("# got: " + line)
        # Bad input: a file that is not a report.
        n += 1
        r = subprocess.run([SNOOP, "summary", os.path.join(DATA, "rootfs.txt")],
                           capture_output=True, text=True)
        ok = r.returncode == 1 and "rootfs.txt" in r.stderr
        print("%s %d - summary of a non-report fails naming the file" % ("ok" if ok else "not ok", n))
        failed += 0 if ok else 1
        n += 1
        r = subprocess.run([SNOOP, "diff", A], capture_output=True, text=True)
        ok = r.returncode == 2 and "two reports" in r.stderr
        print("%s %d - diff with one report is refused" % ("ok" if ok else "not ok", n))
        failed += 0 if ok else 1
    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
