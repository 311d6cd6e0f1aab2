"""constraints.txt pins what every install takes (make run, make test, the image): each package
pyproject.toml asks for has a pin there, and the pin lies in the range asked for. A dependency
added without `make constraints` would otherwise install whatever is newest on the day."""

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def pins() -> dict[str, str]:
    found = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not name==version"
            found[canonicalize_name(name)] = version
    return found


def asked_for() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    return [Requirement(line) for line in lines]


def test_every_package_pyproject_asks_for_is_pinned_within_its_range():
    pinned = pins()
    for requirement in asked_for():
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} has no pin in constraints.txt: run make constraints"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"{requirement.name}=={pinned[name]} is outside {requirement.specifier}: run make constraints")


def test_the_image_and_the_chroot_check_install_with_the_pins():
    assert "-c constraints.txt" in (ROOT / "Dockerfile").read_text()
    assert "-c constraints.txt" in (ROOT / "scripts" / "verify-image-steps.sh").read_text()
