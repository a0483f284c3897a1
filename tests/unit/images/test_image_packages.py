"""The base package list (xedgesim/images/packages.py and images/base/packages.txt)."""

from pathlib import Path

import pytest

from xedgesim.images.packages import PackageListError, parse_package_list, read_package_list

BASE_LIST = Path(__file__).resolve().parents[3] / "images" / "base" / "packages.txt"


def test_comments_blank_lines_and_duplicates() -> None:
    text = "# base\npython3\n\n  mosquitto  # broker\npython3\n"

    assert parse_package_list(text) == ("mosquitto", "python3")


def test_every_bad_line_is_reported_with_its_location() -> None:
    text = "python3\n  Mosquitto\npaho mqtt\nok-pkg\n"

    with pytest.raises(PackageListError) as caught:
        parse_package_list(text, source="packages.txt")
    assert str(caught.value).splitlines() == [
        "packages.txt:2:3: not a Debian package name: 'Mosquitto'",
        "packages.txt:3:1: not a Debian package name: 'paho mqtt'",
    ]


def test_an_empty_list_is_an_error() -> None:
    with pytest.raises(PackageListError, match="empty"):
        parse_package_list("# nothing\n")


def test_the_project_base_list_has_what_the_services_need() -> None:
    packages = read_package_list(BASE_LIST)

    required = {"mosquitto", "mosquitto-clients", "python3", "python3-paho-mqtt"}
    assert required | {"python3-numpy", "python3-yaml"} <= set(packages)
