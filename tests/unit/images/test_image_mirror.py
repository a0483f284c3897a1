"""Which Debian mirror the base is bootstrapped from (xedgesim/images/mirror.py)."""

from pathlib import Path

from xedgesim.images.mirror import DEFAULT_MIRROR, find_mirror

DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
"""


def apt_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    (tmp_path / "sources.list.d").mkdir()
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def test_deb822_source_for_the_suite(tmp_path: Path) -> None:
    apt = apt_dir(tmp_path, {"sources.list.d/debian.sources": DEB822})

    assert find_mirror("bookworm", apt) == "http://mirror.example/debian"


def test_one_line_source_with_options(tmp_path: Path) -> None:
    line = "deb [arch=amd64 signed-by=/k.gpg] http://other.example/debian bookworm main\n"
    apt = apt_dir(tmp_path, {"sources.list": "# comment\n" + line})

    assert find_mirror("bookworm", apt) == "http://other.example/debian"


def test_other_suites_and_disabled_files_are_ignored(tmp_path: Path) -> None:
    apt = apt_dir(
        tmp_path,
        {
            "sources.list.d/google.list": "deb https://g.example/apt cloud-sdk-bookworm main\n",
            "sources.list.d/x.sources.disabled": DEB822,
            "sources.list.d/off.sources": DEB822.replace(
                "Types: deb\n", "Types: deb\nEnabled: no\n", 1
            ),
            "sources.list.d/ubuntu.list": "deb http://archive.example/ubuntu jammy main\n",
        },
    )

    assert find_mirror("bookworm", apt) == DEFAULT_MIRROR


def test_no_apt_configuration_gives_the_default(tmp_path: Path) -> None:
    assert find_mirror("bookworm", tmp_path / "missing") == DEFAULT_MIRROR
