"""`make deb` builds libnginx-mod-http-git-smart-http, and the stock nginx
loads the module from the unpacked package.

Reuses the build: `make deb` runs `make all` first, which finds the module
that `make test` built up to date, and the package's build step calls the
project's make again on the same build/ (nothing is compiled; a
dpkg-buildpackage run and lintian take about 20 s)."""

import subprocess
from pathlib import Path

from conftest import (CONF_LINE, MODULE_CONF, MODULE_SO, TOP, files_under,
                      nginx_t_from_root, run_make)

PACKAGE = "libnginx-mod-http-git-smart-http"


def nginx_abi():
    """The nginx-abi-<version> virtual package the installed nginx
    provides."""
    out = subprocess.run(["dpkg-query", "-W", "-f=${Provides}", "nginx"],
                         stdout=subprocess.PIPE, text=True,
                         check=True).stdout
    abis = [p.strip() for p in out.split(",")
            if p.strip().startswith("nginx-abi-")]
    assert len(abis) == 1, out
    return abis[0]


def test_deb_installs_the_module_and_its_conf_and_nginx_loads_it(tmp_path):
    out = run_make(["deb"])
    debs = sorted((TOP / "build/deb").glob(PACKAGE + "_*.deb"))
    assert len(debs) == 1, (debs, out)
    deb = debs[0]

    fields = subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Package", "Depends"],
        stdout=subprocess.PIPE, text=True, check=True).stdout
    assert "Package: %s" % PACKAGE in fields
    depends = [d.strip() for d in
               fields.split("Depends:", 1)[1].strip().split(",")]
    # the exact ABI of the nginx it was built against, as Debian's modules
    assert nginx_abi() in depends, fields

    root = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    doc = "usr/share/doc/%s/" % PACKAGE
    assert files_under(root) == sorted([
        "usr/lib/nginx/modules/" + MODULE_SO,
        "usr/share/nginx/modules-available/" + MODULE_CONF,
        doc + "changelog.Debian.gz", doc + "copyright"])
    assert (root / "usr/share/nginx/modules-available" /
            MODULE_CONF).read_text() == CONF_LINE

    # the maintainer scripts enable it as Debian's module packages do
    control = tmp_path / "control"
    subprocess.run(["dpkg-deb", "-e", str(deb), str(control)], check=True)
    postinst = (control / "postinst").read_text()
    assert "%s:50-%s" % (MODULE_CONF, MODULE_CONF) in postinst
    assert "/etc/nginx/modules-enabled/" in postinst

    nginx_t_from_root(root, tmp_path)
