"""tools/check_layout.py on small trees written into a temporary folder.

Each rule is shown to fail when broken and to pass when kept; the function
finder is shown to read the C and C++ forms the project uses.
"""

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "tools", "check_layout.py")

_spec = importlib.util.spec_from_file_location("check_layout", SCRIPT)
check_layout = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_layout)


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(textwrap.dedent(text).lstrip("\n"))


def run(root):
    p = subprocess.run([sys.executable, SCRIPT, "--root", str(root)],
                       capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def violations(root, rule=None):
    rc, out, _ = run(root)
    lines = [ln for ln in out.splitlines() if ": [" in ln]
    if rule:
        lines = [ln for ln in lines if f"[{rule}]" in ln]
    return rc, lines


def functions(text, name="x.cpp"):
    src = check_layout.Source(name, textwrap.dedent(text).lstrip("\n"))
    return [(f.name, f.first_line, f.last_line)
            for f in check_layout.find_functions(src)]


def c_func(name, body_lines, static=False, calls=()):
    """An nginx-style C function whose `{`..`}` spans body_lines + 2."""
    body = [f"    {c}(r);" for c in calls]
    body += ["    r++;"] * (body_lines - len(body))
    return ("\n" + ("static " if static else "") + "ngx_int_t\n"
            f"{name}(ngx_http_request_t *r)\n{{\n" + "\n".join(body) +
            "\n}\n")


def cpp_func(name, span):
    """A C++ function whose `{`..`}` lines number span."""
    return (f"int {name}(int x) {{\n" + "    x++;\n" * (span - 3) +
            "    return x;\n}\n")


@pytest.fixture
def tree(tmp_path):
    """A clean tree: every folder in order, includes going down, a C call
    chain without a cycle, short functions."""
    write(tmp_path, "src/util/hex.h", "#pragma once\nint hex(int);\n")
    write(tmp_path, "src/util/hex.cpp", '#include "util/hex.h"\n' +
          cpp_func("hex", 5))
    write(tmp_path, "src/odb/reader.cpp",
          '#include "odb/reader.h"\n#include "util/hex.h"\n#include <vector>\n')
    write(tmp_path, "src/odb/reader.h", '#include "pack_format.h"\n')
    write(tmp_path, "src/odb/pack_format.h", "")
    write(tmp_path, "src/service/session.cpp",
          '#include "git_smart_http.h"\n#include "walk/enumerate.h"\n')
    write(tmp_path, "src/walk/enumerate.h", '#include "odb/reader.h"\n')
    write(tmp_path, "src/include/git_smart_http.h", "int gsh_x(void);\n")
    write(tmp_path, "src/api.cpp", '#include "service/session.h"\n'
          '#include "git_smart_http.h"\n')
    write(tmp_path, "ngx_module/a.c",
          '#include "m.h"\n' + c_func("ngx_a", 3, calls=["ngx_b"]))
    write(tmp_path, "ngx_module/b.c",
          '#include "m.h"\n' + c_func("ngx_b", 3, calls=["ngx_c"]))
    write(tmp_path, "ngx_module/c.c", '#include "m.h"\n' + c_func("ngx_c", 3))
    write(tmp_path, "ngx_module/m.h", "ngx_int_t ngx_a(void *);\n")
    write(tmp_path, "tests/unit/test_hex.cpp",
          "TEST(Hex, Works) {\n    EXPECT_EQ(1, 1);\n}\n")
    return tmp_path


def test_clean_tree_passes(tree):
    rc, out, err = run(tree)
    assert (rc, out.strip()) == (0, "check-layout: ok"), err


# ------------------------------------------------------- ngx-call-cycle

def test_two_file_cycle_fails(tree):
    write(tree, "ngx_module/c.c", c_func("ngx_c", 3, calls=["ngx_b"]))
    rc, v = violations(tree, "ngx-call-cycle")
    assert rc == 1
    assert len(v) == 2
    assert v[0].startswith("ngx_module/b.c:6: [ngx-call-cycle] uses ngx_c() "
                           "of ngx_module/c.c:1")
    assert "b.c -> c.c -> b.c" in v[0]
    assert v[1].startswith("ngx_module/c.c:4: [ngx-call-cycle] uses ngx_b()")
    assert "c.c -> b.c -> c.c" in v[1]


def test_three_file_cycle_fails(tree):
    write(tree, "ngx_module/c.c", c_func("ngx_c", 3, calls=["ngx_a"]))
    rc, v = violations(tree, "ngx-call-cycle")
    assert rc == 1
    assert [ln.split(":")[0] for ln in v] == \
        ["ngx_module/a.c", "ngx_module/b.c", "ngx_module/c.c"]
    assert "a.c -> b.c -> c.c -> a.c" in v[0]
    assert "c.c -> a.c -> b.c -> c.c" in v[2]


def test_taking_a_functions_address_is_a_use(tree):
    write(tree, "ngx_module/c.c", c_func("ngx_c", 3) +
          "\nstatic ngx_int_t (*hook)(ngx_http_request_t *) = ngx_a;\n")
    rc, v = violations(tree, "ngx-call-cycle")
    assert rc == 1 and len(v) == 3
    assert v[2].startswith("ngx_module/c.c:9: [ngx-call-cycle] uses ngx_a()")


def test_static_function_of_the_same_name_is_no_use(tree):
    # c.c has its own static ngx_a: its calls go there, not to a.c
    write(tree, "ngx_module/c.c",
          c_func("ngx_a", 3, static=True) + c_func("ngx_c", 3,
                                                  calls=["ngx_a"]))
    assert run(tree)[0] == 0


def test_names_in_comments_and_strings_are_no_use(tree):
    write(tree, "ngx_module/c.c", c_func("ngx_c", 3) +
          '/* ngx_a(r) */\nstatic char *s = "ngx_a(r)"; // ngx_b(r)\n')
    assert run(tree)[0] == 0


def test_a_cycle_of_static_functions_is_no_cycle(tree):
    write(tree, "ngx_module/c.c",
          c_func("ngx_c", 3) + c_func("ngx_b2", 3, static=True,
                                      calls=["ngx_b2"]))
    assert run(tree)[0] == 0


# -------------------------------------------------------- include-order

def test_upward_include_fails(tree):
    write(tree, "src/odb/reader.cpp",
          '#include "odb/reader.h"\n\n#include "walk/enumerate.h"\n')
    rc, v = violations(tree)
    assert rc == 1
    assert v == ['src/odb/reader.cpp:3: [include-order] odb/ includes '
                 '"walk/enumerate.h" of walk/, which comes later in the '
                 'order util/ -> protocol/ -> odb/ -> repo/ -> walk/ -> '
                 'pack/ -> push/ -> service/ -> (api.cpp, include/)']


def test_each_step_of_the_order(tree):
    order = ["util", "protocol", "odb", "repo", "walk", "pack", "push",
             "service"]
    for lo, hi in zip(order, order[1:]):
        write(tree, f"src/{hi}/h.h", "")
        write(tree, f"src/{lo}/l.h", "")
        write(tree, f"src/{hi}/down.cpp", f'#include "{lo}/l.h"\n')
    assert run(tree)[0] == 0
    for lo, hi in zip(order, order[1:]):
        write(tree, f"src/{lo}/up.cpp", f'#include "{hi}/h.h"\n')
    rc, v = violations(tree, "include-order")
    assert rc == 1
    assert sorted(ln.split(":")[0] for ln in v) == \
        sorted(f"src/{lo}/up.cpp" for lo in order[:-1])


def test_only_service_and_api_may_include_the_boundary_header(tree):
    write(tree, "src/push/rp.cpp", '#include "git_smart_http.h"\n')
    rc, v = violations(tree)
    assert rc == 1
    assert v[0].startswith('src/push/rp.cpp:1: [include-order] push/ '
                           'includes "git_smart_http.h" of include/')


def test_api_cpp_may_include_everything_but_nothing_includes_it(tree):
    write(tree, "src/service/api_user.cpp", '#include "api.h"\n')
    write(tree, "src/api.h", "")
    rc, v = violations(tree)
    assert rc == 1 and v[0].startswith("src/service/api_user.cpp:1:")


def test_commented_out_include_is_ignored(tree):
    write(tree, "src/util/x.cpp",
          '// #include "service/session.h"\n/*\n#include "walk/a.h"\n*/\n')
    assert run(tree)[0] == 0


def test_folder_outside_the_order_fails(tree):
    write(tree, "src/cache/c.cpp", "")
    rc, v = violations(tree)
    assert rc == 1
    assert v[0].startswith("src/cache/c.cpp:1: [include-order] src/cache/ "
                           "is not in the documented order")


# ------------------------------------------------------ function-length

def test_81_line_function_fails_and_80_passes(tree):
    write(tree, "src/util/hex.cpp", cpp_func("f80", 80) +
          cpp_func("f81", 81))
    rc, v = violations(tree)
    assert rc == 1
    assert v == ["src/util/hex.cpp:81: [function-length] f81 is 81 lines "
                 "(lines 81-161, limit 80); split it, or say `why long: "
                 "<reason>` in the comment right above its signature"]


@pytest.mark.parametrize("where", ["ngx_module/c.c", "tests/unit/test_x.cpp",
                                   "src/pack/pack_plan.h"])
def test_every_checked_folder(tree, where):
    write(tree, where, c_func("ngx_c", 80))  # 82 lines with its braces
    rc, v = violations(tree, "function-length")
    assert rc == 1
    assert v[0].startswith(f"{where}:3: [function-length] ngx_c is 82 lines")


def test_other_folders_are_not_length_checked(tree):
    write(tree, "tests/fuzz/fuzz_x.cpp", cpp_func("f", 200))
    write(tree, "tests/bench/x.c", cpp_func("f", 200))
    assert run(tree)[0] == 0


def test_why_long_comment_lets_a_function_pass(tree):
    write(tree, "ngx_module/c.c",
          "/*\n * The table of every directive.\n *\n"
          " * why long: one entry per directive; split, it reads worse.\n"
          " */\n" + c_func("ngx_c", 100).lstrip("\n"))
    write(tree, "src/util/hex.cpp",
          "namespace gsh {\n\n// Steps in order.\n// why long: a script.\n"
          "template <typename T>\n" + cpp_func("f", 120) + "}\n")
    assert run(tree)[0] == 0


def test_why_long_needs_a_reason(tree):
    write(tree, "src/util/hex.cpp", "// why long:\n" + cpp_func("f", 90))
    rc, v = violations(tree)
    assert rc == 1
    assert v == ["src/util/hex.cpp:2: [function-length] f is 90 lines "
                 "(lines 2-91, limit 80); `why long:` needs a reason after it"]


def test_why_long_must_be_right_above(tree):
    write(tree, "src/util/hex.cpp",
          "// why long: a reason\n\n" + cpp_func("f", 90))
    rc, v = violations(tree)
    assert rc == 1 and "[function-length] f is 90 lines" in v[0]
    # a comment of another function above does not count either
    write(tree, "src/util/hex.cpp",
          "// why long: a reason\nint g(int x) { return x; }\n" +
          cpp_func("f", 90))
    assert run(tree)[0] == 1


def test_lambda_is_counted_with_its_function_only(tree):
    body = "    auto fn = [&](int y) {\n" + "        y++;\n" * 40 + \
        "        return y;\n    };\n"
    write(tree, "src/util/hex.cpp",
          "int f(int x) {\n" + body + "    x++;\n" * 30 + "    return x;\n}\n")
    assert run(tree)[0] == 0
    assert functions(open(tree / "src/util/hex.cpp").read()) == \
        [("f", 1, 76)]
    write(tree, "src/util/hex.cpp",
          "int f(int x) {\n" + body + "    x++;\n" * 40 + "    return x;\n}\n")
    rc, v = violations(tree)
    assert rc == 1 and len(v) == 1 and "f is 86 lines" in v[0]


def test_unbalanced_braces_fail_rather_than_pass(tree):
    write(tree, "src/util/hex.cpp", "int f() {\n    if (x) {\n}\n")
    rc, v = violations(tree)
    assert rc == 1
    assert v == ["src/util/hex.cpp:1: [parse] a `{` that is never closed: "
                 "the layout check cannot read this file"]


# ------------------------------------------------------ the finder itself

def test_nginx_style_c():
    assert functions("""
        static ngx_int_t ngx_a(ngx_http_request_t *r);

        static ngx_command_t  cmds[] = {
            { ngx_string("x"), NGX_HTTP_LOC_CONF, ngx_a, 0, 0, NULL },
              ngx_null_command
        };

        static ngx_int_t
        ngx_a(ngx_http_request_t *r)
        {
            if (r) {
                return '{';
            }
            return NGX_OK;
        }

        struct ngx_foo_s *
        ngx_b(void)
        {
            return NULL;
        }

        #define NGX_X(a)  { a, "}" }
        typedef struct {
            int a;
        } ngx_t;
        """, "x.c") == [("ngx_a", 10, 15), ("ngx_b", 19, 21)]


def test_comments_strings_and_raw_strings():
    assert functions(r'''
        // void no() {
        /* int not_this() { */
        const char *s = "} { \" }";
        char c = '}', d = '\'', e = '"';
        auto raw = R"(})";
        auto raw2 = R"sh(a )" } { b)sh";
        long n = 1'000'000;
        int f(int x) {
            const char *t = R"(
        }
        )";
            return x + '{';
        }
        ''') == [("f", 8, 13)]


def test_namespaces_classes_templates_constructors():
    assert functions("""
        namespace gsh::pack {
        namespace {
        struct Point { int x{0}; int y = 1; };
        }
        template <typename T, class U>
        class Box : public Base<T> {
          public:
            explicit Box(T t, int n = {}) : t_{t}, v_(std::vector<int>{1, 2}),
                                            n_(n) {
                go();
            }
            ~Box() { stop(); }
            T &operator[](size_t i) { return t_[i]; }
            bool operator()(int a) const noexcept { return a; }
            auto get() const -> const T & { return t_; }
          private:
            T t_;
        };
        template <typename T>
        Box<T>::Box(const Box &o) : t_(o.t_) {}
        enum class Kind : uint8_t { A, B };
        extern "C" int gsh_x(void) { return 0; }
        } // namespace gsh::pack
        """) == [("Box", 9, 11), ("~Box", 12, 12), ("operator[]", 13, 13),
                 ("operator()", 14, 14), ("get", 15, 15),
                 ("Box<T>::Box", 20, 20), ("gsh_x", 22, 22)]


def test_extern_c_block_and_tests():
    assert functions("""
        extern "C" {
        int a(void) { return 0; }
        }
        TEST_F(Fixture, Name) {
            auto l = [] { return 1; };
        }
        INSTANTIATE_TEST_SUITE_P(X, Y, Values(1),
                                 [](const Info &info) { return "n"; });
        """) == [("a", 2, 2), ("TEST_F(Fixture, Name)", 4, 6),
                 ("lambda", 8, 8)]


def test_preprocessor_branches_are_both_read():
    assert functions("""
        #if defined(X)
        int f(void) {
            return 1;
        }
        #else
        int f(void) {
            return 0;
        }
        #endif
        """) == [("f", 2, 4), ("f", 6, 8)]


def test_the_real_tree_is_read_without_parse_errors():
    rc, out, _ = run(REPO)
    assert "[parse]" not in out
    assert "Traceback" not in out
