"""`make install DESTDIR=...` and `make uninstall DESTDIR=...`: Debian's
paths, and the stock nginx loads the module from the staged tree.

Reuses the build: install depends on the module, which `make test` built
already (nothing is compiled)."""

from conftest import (CONF_LINE, MODULE_CONF, MODULE_SO, files_under,
                      nginx_t_from_root, run_make)


def test_install_with_destdir_then_uninstall(tmp_path):
    root = tmp_path / "root"
    run_make(["install", "DESTDIR=%s" % root])
    # with DESTDIR no modules-enabled link: that is the installer's (the
    # package's postinst) to make
    assert files_under(root) == sorted([
        "usr/lib/nginx/modules/" + MODULE_SO,
        "usr/share/nginx/modules-available/" + MODULE_CONF])
    assert (root / "usr/share/nginx/modules-available" /
            MODULE_CONF).read_text() == CONF_LINE
    nginx_t_from_root(root, tmp_path)

    (root / "usr/share/nginx/modules").unlink()  # nginx_t_from_root's link
    run_make(["uninstall", "DESTDIR=%s" % root])
    assert files_under(root) == []
