"""``python -m xedgesim.images build|list``: the image commands without the top-level CLI."""

from xedgesim.images.commands import images

images(prog_name="python -m xedgesim.images")
