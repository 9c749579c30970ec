"""Unpack Go Goka's module dependencies into ./deps for an offline build (no Go module proxy).

    python deps.py --mirror DIR

``DIR`` holds bare git clones named ``owner+name/repo`` (what the session's fetch tool
leaves under /work/.mirror). Each module below is unpacked at the listed commit into
``deps/<module path>``; go.mod's ``replace`` directives point there. Blobs missing from a
partial clone (large test data) are skipped; modules that only tests of other modules
need get a stub go.mod (see STUBS). Standard library only.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: module path -> (mirror "owner+name", version go.mod asks for, commit unpacked).
#: Commits are the version's tag in the mirror, except where noted.
MODULES: dict[str, tuple[str, str, str]] = {
    "github.com/lovoo/goka": ("lovoo+goka", "v1.1.16", "11ff5eb243d21ef7af4fd198573b79f1bb82bfbc"),
    "github.com/IBM/sarama": ("IBM+sarama", "v1.46.3", "0447c9abdd8b66f6ee099320bbc21e88fb44e68c"),
    "github.com/go-stack/stack": ("go-stack+stack", "v1.8.1", "93c7c7e3550c72bc91dead1452a0020142e2a902"),
    "github.com/hashicorp/go-multierror": ("hashicorp+go-multierror", "v1.1.1", "9974e9ec57696378079ecc3accd3d6f29401b3a0"),
    "github.com/hashicorp/errwrap": ("hashicorp+errwrap", "v1.1.0", "7b00e5db719c64d14dd0caaacbd13e76254d02c0"),
    "github.com/hashicorp/go-uuid": ("hashicorp+go-uuid", "v1.0.3", "67cd70b3bc50aeab4f2a02f869573616871a9a2a"),
    "github.com/syndtr/goleveldb": ("syndtr+goleveldb", "v1.0.0", "9d007e481048296f09f59bd19bb7ae584563cd95"),
    "go.uber.org/mock": ("uber-go+mock", "v0.6.0", "2d1c58167e30f380cf78e44a43b100a14767e817"),
    "golang.org/x/sync": ("golang+sync", "v0.19.0", "2a180e22fddcc336475e72aa950be958c1b68d33"),
    "golang.org/x/net": ("golang+net", "v0.49.0", "d977772e17ccaa1903b2af736f6405ab3a9f05cc"),
    "golang.org/x/crypto": ("golang+crypto", "v0.47.0", "506e022208b864bc3c9c4a416fe56be75d10ad24"),
    # not in goka's go.mod; the mirror's newest commit
    "golang.org/x/sys": ("golang+sys", "(newest)", "e8c1c3274309bd87f360205f5706e986ceccb317"),
    "github.com/eapache/go-resiliency": ("eapache+go-resiliency", "v1.7.0", "ad3d1cf2b1be8180320d80813f40920024f5b498"),
    "github.com/eapache/go-xerial-snappy": ("eapache+go-xerial-snappy", "v0.0.0-20230731223053-c322873962e3",
                                            "c322873962e393e443b7efa5969edac6884adfa1"),
    "github.com/eapache/queue": ("eapache+queue", "v1.1.0", "44cc805cf13205b55f69e14bcb69867d1ae92f98"),
    # v1.0.0 is not in the mirror: its newest commit (after v0.0.4)
    "github.com/golang/snappy": ("golang+snappy", "v1.0.0", "43d5d4cd4e0e3390b0b645d5c3ef1187642403d8"),
    "github.com/jcmturner/aescts/v2": ("jcmturner+aescts", "v2.0.0", "72347e1bd92aa67384e4f8c0e8a6d7cfaa716eea"),
    "github.com/jcmturner/dnsutils/v2": ("jcmturner+dnsutils", "v2.0.0", "90052734000be120c409677a88cb517e5b49dbf4"),
    "github.com/jcmturner/gofork": ("jcmturner+gofork", "v1.7.6", "64a929632441211b0f4d00581cd854380cd279d7"),
    "github.com/jcmturner/gokrb5/v8": ("jcmturner+gokrb5", "v8.4.4", "47cd2e7744531465a983bf457bac38e6ad8f4684"),
    "github.com/jcmturner/rpc/v2": ("jcmturner+rpc", "v2.0.3", "7f482067a47ba5c8f25f2bcae9ab99b3fed820e9"),
    "github.com/klauspost/compress": ("klauspost+compress", "v1.18.3", "1d6cf28a9eac67b569bb334c04e1dcb8bf02cf17"),
    # v4.1.25 is not in the mirror: its newest commit (after v4.1.21)
    "github.com/pierrec/lz4/v4": ("pierrec+lz4", "v4.1.25", "294e7659e17723306ebf3a44cd7ad2c11f456c37"),
    "github.com/davecgh/go-spew": ("davecgh+go-spew", "v1.1.1", "8991bc29aa16c548c550c7ff78260e27b9ab7c73"),
    "github.com/rcrowley/go-metrics": ("rcrowley+go-metrics", "v0.0.0-20250401214520-65e299d6c5c9",
                                       "65e299d6c5c92718e672a9d2bc7f96e5b687eef8"),
}

#: Modules whose major version is a subdirectory of the repository (module path's last element).
SUBDIR_MODULES = {"github.com/jcmturner/aescts/v2", "github.com/jcmturner/dnsutils/v2",
                  "github.com/jcmturner/gokrb5/v8", "github.com/jcmturner/rpc/v2"}

#: Modules in the requirement graph whose packages the job never imports: a bare go.mod.
STUBS: list[str] = ["github.com/onsi/ginkgo", "github.com/onsi/gomega"]


def git(git_dir: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", f"--git-dir={git_dir}", *args], check=True, capture_output=True, input=stdin)


def unpack(git_dir: Path, commit: str, dest: Path, subdir: str = "") -> int:
    """Write every blob of ``commit`` (under ``subdir``) present in ``git_dir`` under ``dest``;
    return how many were missing."""
    pathspec = [subdir + "/"] if subdir else []
    listing = git(git_dir, "ls-tree", "-r", "-z", "--full-tree", commit, *pathspec).stdout.decode().split("\0")
    entries: list[tuple[str, str]] = []
    for line in filter(None, listing):
        meta, name = line.split("\t", 1)
        mode, kind, object_id = meta.split()
        if kind == "blob" and mode != "120000":  # symlinks skipped
            entries.append((object_id, name[len(subdir) + 1 if subdir else 0:]))
    check = git(git_dir, "cat-file", "--batch-check", stdin="\n".join(s for s, _ in entries).encode()).stdout
    present = {ln.split()[0].decode() for ln in check.splitlines() if not ln.endswith(b"missing")}
    missing = 0
    for sha, path in entries:
        if sha not in present:
            missing += 1
            continue
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(git(git_dir, "cat-file", "blob", sha).stdout)
    return missing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mirror", type=Path, required=True)
    parser.add_argument("--deps", type=Path, default=HERE / "deps")
    args = parser.parse_args()
    for module, (mirror, version, commit) in MODULES.items():
        repo = args.mirror / mirror / "repo"
        git_dir = repo / ".git" if (repo / ".git").is_dir() else repo
        dest = args.deps / module
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        # major versions >= 2 of these live in a subdirectory of the repository (e.g. v8/)
        subdir = module.rsplit("/", 1)[1] if module in SUBDIR_MODULES else ""
        missing = unpack(git_dir, commit, dest, subdir)
        if not (dest / "go.mod").exists():
            (dest / "go.mod").write_text(f"module {module}\n")
        print(f"{module} {version} {commit[:12]}" + (f" ({missing} missing blobs skipped)" if missing else ""))
    for module in STUBS:
        dest = args.deps / "stub" / module
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        (dest / "go.mod").write_text(f"module {module}\n")
        print(f"{module} stub")


if __name__ == "__main__":
    main()
