"""What ``xedge images list`` shows (xedgesim/images/listing.py)."""

from types import SimpleNamespace

from xedgesim.images.listing import ListedImage, format_table, from_attrs, human_size, list_images

ATTRS = {
    "Id": "sha256:" + "1" * 64,
    "RepoTags": ["xedgesim/broker:latest", "xedgesim/broker:0.1.0-amd64"],
    "Architecture": "amd64",
    "Size": 175_500_000,
    "Config": {"Labels": {"org.xedgesim.image": "broker", "org.xedgesim.version": "0.1.0"}},
}


def test_from_attrs() -> None:
    assert from_attrs(ATTRS) == ListedImage(
        name="broker",
        arch="amd64",
        version="0.1.0",
        tags=("xedgesim/broker:0.1.0-amd64", "xedgesim/broker:latest"),
        digest="sha256:" + "1" * 64,
        size=175_500_000,
    )


def test_from_attrs_without_labels_falls_back_to_the_tag() -> None:
    image = from_attrs({"RepoTags": ["xedgesim/gateway:0.1.0-arm64"], "Config": {"Labels": None}})

    assert (image.name, image.version, image.arch) == ("gateway", "?", "?")


def test_human_size() -> None:
    assert [human_size(n) for n in (999, 1500, 175_500_000, 2_300_000_000)] == [
        "999B",
        "1.5kB",
        "175.5MB",
        "2.3GB",
    ]


def test_list_asks_for_managed_images_and_sorts() -> None:
    arm = dict(ATTRS, Architecture="arm64")
    base = dict(ATTRS, Config={"Labels": {"org.xedgesim.image": "base"}})
    seen: dict = {}

    def fake_list(filters: dict) -> list:
        seen.update(filters)
        return [SimpleNamespace(attrs=a) for a in (arm, ATTRS, base)]

    client = SimpleNamespace(images=SimpleNamespace(list=fake_list))
    rows = list_images(client)

    assert seen == {"label": "org.xedgesim.managed=true"}
    assert [(r.name, r.arch) for r in rows] == [
        ("base", "amd64"),
        ("broker", "amd64"),
        ("broker", "arm64"),
    ]


def test_table_columns_line_up() -> None:
    rows = [from_attrs(ATTRS), from_attrs(dict(ATTRS, RepoTags=[], Architecture="arm64"))]
    lines = format_table(rows).splitlines()

    assert lines[0].split() == ["NAME", "ARCH", "DIGEST", "SIZE", "TAGS"]
    assert lines[1].index("sha256:") == lines[2].index("sha256:") == lines[0].index("DIGEST")
    assert lines[2].endswith("<none>")
