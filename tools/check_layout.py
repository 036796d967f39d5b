#!/usr/bin/python3
"""The layout rules of docs/ARCHITECTURE.md, checked (make check-layout).

Three rules; each violation is printed as `path:line: [rule] message` and
any violation makes the exit status 1:

  ngx-call-cycle   a C file in ngx_module/ uses (calls, or takes the
                   address of) a non-static function that another .c file
                   of ngx_module/ defines, and that file reaches back to it
                   through such uses (a cycle of any length).
  include-order    a file under src/ includes a header of a folder that
                   comes later in the order util -> protocol -> odb -> repo
                   -> walk -> pack -> push -> service -> (api.cpp,
                   include/); src/include/git_smart_http.h may be included
                   by service/ too.
  function-length  a function in src/, ngx_module/ or tests/unit/ spans
                   more than 80 lines from the line of its body's `{` to
                   the line of its `}`, and the comment right above its
                   signature has no `why long:` with a reason.

The C/C++ reader is a brace scanner over the text with comments, string and
character literals (raw strings too) and preprocessor lines blanked out, not
a compiler: it needs nothing but Python's standard library and reads the
whole tree in well under a second.  A file whose braces do not balance is a
`parse` violation, so that nothing is skipped silently.
"""

import argparse
import bisect
import os
import re
import sys
from collections import deque

MAX_LINES = 80
WHY_LONG = "why long:"

# Lowest first.  "" is a file directly under src/ (api.cpp).
SRC_ORDER = ["util", "protocol", "odb", "repo", "walk", "pack", "push",
             "service", "include", ""]
# (folder of the includer, header) pairs allowed against the order.
SRC_ALLOWED_UP = {("service", "include/git_smart_http.h")}

LENGTH_ROOTS = ["src", "ngx_module", "tests/unit"]
C_EXTS = (".c", ".h", ".cc", ".cpp", ".cxx", ".hh", ".hpp", ".hxx")


# --------------------------------------------------------------- the lexer

_SPECIAL = re.compile(r'//|/\*|"|\'')
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"?', re.S)
_CHAR = re.compile(r"'(?:[^'\\\n]|\\.)*'?", re.S)
_RAW_PREFIXES = ("R", "u8R", "uR", "UR", "LR")
_IDENT_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_DIRECTIVE = re.compile(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", re.M)
_NOT_NL = re.compile(r"[^\n]")


def _ident_before(t, j):
    """The identifier or number that ends right before t[j]."""
    k = j
    while k > 0 and t[k - 1] in _IDENT_CHARS:
        k -= 1
    return t[k:j]


def _blank(s):
    return _NOT_NL.sub(" ", s)


class Source:
    """One file's text and its code-only view of the same length.

    `code` has comments and the insides of literals replaced by spaces
    (newlines kept, the quotes of a literal kept); `code_pp` also blanks
    preprocessor lines.  Offsets and line numbers are the same in all three.
    """

    def __init__(self, path, text):
        self.path = path
        self.text = text
        self.comments = []  # (start, end) of each comment
        self.code = self._lex(text)
        self.code_pp = _DIRECTIVE.sub(lambda m: _blank(m.group()), self.code)
        self._nl = [i for i, c in enumerate(text) if c == "\n"]
        self._comment_starts = [s for s, _ in self.comments]

    def _lex(self, t):
        out = []
        i = 0
        n = len(t)
        while True:
            m = _SPECIAL.search(t, i)
            if not m:
                out.append(t[i:])
                break
            j = m.start()
            tok = m.group()
            if tok == "//":
                e = t.find("\n", j)
                e = n if e < 0 else e
                out.append(t[i:j])
                out.append(" " * (e - j))
                self.comments.append((j, e))
            elif tok == "/*":
                e = t.find("*/", j + 2)
                e = n if e < 0 else e + 2
                out.append(t[i:j])
                out.append(_blank(t[j:e]))
                self.comments.append((j, e))
            elif tok == '"':
                ident = _ident_before(t, j)
                if ident in _RAW_PREFIXES and t.find("(", j) >= 0:
                    k = t.find("(", j)
                    delim = t[j + 1:k]
                    close = t.find(")" + delim + '"', k)
                    e = n if close < 0 else close + len(delim) + 2
                else:
                    e = _STRING.match(t, j).end()
                out.append(t[i:j])
                out.append('"' + _blank(t[j + 1:e - 1]) + '"' if e - j >= 2
                           else _blank(t[j:e]))
            else:  # a quote: a character literal or a digit separator
                ident = _ident_before(t, j)
                if ident[:1].isdigit():
                    out.append(t[i:j + 1])
                    i = j + 1
                    continue
                e = _CHAR.match(t, j).end()
                out.append(t[i:j])
                out.append("'" + _blank(t[j + 1:e - 1]) + "'" if e - j >= 2
                           else _blank(t[j:e]))
            i = e
        return "".join(out)

    def line_of(self, offset):
        return bisect.bisect_left(self._nl, offset) + 1

    def line_span(self, line):
        """(start, end) offsets of a 1-based line, without its newline."""
        start = 0 if line == 1 else self._nl[line - 2] + 1
        end = self._nl[line - 1] if line - 1 < len(self._nl) else len(self.text)
        return start, end

    def in_comment(self, offset):
        k = bisect.bisect_right(self._comment_starts, offset) - 1
        return k >= 0 and self.comments[k][0] <= offset < self.comments[k][1]

    def comment_above(self, line):
        """The text of the comment lines directly above a line (no blank
        line or code between), or ""."""
        lines = []
        ln = line - 1
        while ln >= 1:
            s, e = self.line_span(ln)
            if self.code[s:e].strip():
                break  # code or a preprocessor line
            if not self.text[s:e].strip() and not self.in_comment(s):
                break  # a blank line outside a comment
            lines.append(self.text[s:e])
            ln -= 1
        return "\n".join(reversed(lines))


# ------------------------------------------------------ the function finder

class Function:
    __slots__ = ("name", "sig", "open", "close", "static", "src")

    def __init__(self, src, name, sig, open_, close, static):
        self.src = src
        self.name = name
        self.sig = sig      # offset of the signature's first character
        self.open = open_   # offset of the body's `{`
        self.close = close  # offset of the body's `}`
        self.static = static

    @property
    def first_line(self):
        return self.src.line_of(self.open)

    @property
    def last_line(self):
        return self.src.line_of(self.close)

    @property
    def length(self):
        return self.last_line - self.first_line + 1

    @property
    def sig_line(self):
        return self.src.line_of(self.sig)


_ACCESS = re.compile(r"^(?:\s*(?:public|private|protected)\s*:(?!:))+")
_SCOPE_KW = re.compile(r"\b(namespace|class|struct|union|enum)\b")
_EXTERN_C = re.compile(r'^\s*extern\s*"[^"]*"\s*$')
_QUALS = re.compile(
    r"\)((?:\s*(?:const|volatile|noexcept|override|final|mutable|constexpr"
    r"|consteval|try|&&|&|->\s*[\w:<>,\s*&]+?|requires\b[^;{}]*?))*)\s*$")
# A lambda's introducer follows an operator, `(`, `,` or `return`; the `[]`
# of `operator[]` or of an array parameter follows a word.
_LAMBDA = re.compile(
    r"(?:^|[=(,{;:?!&|+\-*/<>~]|\breturn)\s*\[[^\[\]]*\]\s*"
    r"(?:\([^{};]*\))?(?:\s*(?:mutable|constexpr|noexcept"
    r"|->\s*[\w:<>,\s*&]+?))*\s*$")
_INIT_END = re.compile(r"(?:=|\breturn|,|\(|\[|\?)\s*$")
_NAME = re.compile(
    r"((?:~?[A-Za-z_]\w*(?:\s*<[^<>;{}]*>)?\s*::\s*)*"
    r"(?:operator\s*(?:\(\s*\)|\[\s*\]|[^\s\w(]+|[\w\s:<>*&]+?)"
    r"|~?[A-Za-z_]\w*))\s*$")
_TEST_MACROS = {"TEST", "TEST_F", "TEST_P", "TYPED_TEST", "TYPED_TEST_P"}


def _is_scope(head):
    if _EXTERN_C.match(head):
        return True
    m = _SCOPE_KW.search(head)
    if not m:
        return False
    if m.group(1) == "namespace":
        return True
    # `struct foo *get(void)` is a function; `struct X : Y<f()>` a scope.
    rest = head[m.end():]
    paren = rest.find("(")
    colon = re.search(r"(?<!:):(?!:)", rest)
    return paren < 0 or (colon is not None and colon.start() < paren)


def _params_open(head, close):
    """Offset of the `(` matching the `)` at head[close]."""
    depth = 0
    for k in range(close, -1, -1):
        c = head[k]
        if c == ")":
            depth += 1
        elif c == "(":
            depth -= 1
            if depth == 0:
                return k
    return -1


def _signature(head):
    """The head up to the `)` of its parameters: a constructor's
    initialiser list (`) : a_(x), b_{y}`) cut off."""
    depth = 0
    k = 0
    n = len(head)
    while k < n:
        c = head[k]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == ":" and depth == 0:
            if head.startswith("::", k):
                k += 2
                continue
            before = head[:k].rstrip()
            before = re.sub(r"\bnoexcept\s*$", "", before).rstrip()
            if before.endswith(")"):
                return before
        k += 1
    return head


def _function_name(sig):
    quals = _QUALS.search(sig)
    if not quals:
        return "?"
    close = quals.start()
    popen = _params_open(sig, close)
    if popen < 0:
        return "?"
    m = _NAME.search(sig, 0, popen)
    if not m:
        return "?"
    name = re.sub(r"\s+", "", m.group(1))
    if name in _TEST_MACROS:
        args = re.sub(r"\s+", " ", sig[popen:close + 1])
        return name + args
    return name


def find_functions(src):
    """Every outermost function body of a file, in order.

    Braces are classed by the text before them (since the last `{`, `}` or
    `;`): a namespace, class, struct, union, enum or extern "C" opens a
    scope that may hold functions; a `)` with optional qualifiers, or a
    lambda introducer, opens a function whose braces inside (blocks,
    lambdas, local classes) are all part of it; anything else (`= {`, a
    member's brace initialiser, a C initialiser list) is data, in which
    only a lambda opens a function.
    """
    code = src.code_pp
    funcs = []
    stack = []  # (kind, `{` offset, head start, head, head's raw start)
    last = 0
    for m in re.finditer(r"[{};]", code):
        p = m.start()
        ch = m.group()
        if ch == "{":
            outer = stack[-1][0] if stack else "scope"
            raw_head = code[last:p]
            head = _ACCESS.sub("", raw_head)
            if outer in ("func", "lambda", "block"):
                kind = "block"
            elif _LAMBDA.search(head):
                kind = "lambda"
            elif outer == "data":
                kind = "data"
            elif _INIT_END.search(head) or head.count("(") > head.count(")"):
                kind = "data"
            elif _is_scope(head):
                kind = "scope"
            elif _QUALS.search(head):
                kind = "func"
            else:
                kind = "data"
            stack.append((kind, p, last + len(raw_head) - len(head), head,
                          last))
            last = p + 1
        elif ch == "}":
            if not stack:
                raise ParseError(src.line_of(p), "a `}` without its `{`")
            kind, op, hstart, head, raw_start = stack.pop()
            last = p + 1
            if kind == "data":
                # A brace initialiser (a default argument's `= {}`, a
                # member's `a_{x}` in a constructor's list) is part of the
                # text before the next brace.
                last = raw_start
            elif kind in ("func", "lambda") and \
                    not any(k[0] in ("func", "lambda") for k in stack):
                lead = len(head) - len(head.lstrip())
                if kind == "lambda":
                    name = "lambda"
                else:
                    name = _function_name(_signature(head))
                static = re.search(r"\bstatic\b", head) is not None
                funcs.append(Function(src, name, hstart + lead, op, p,
                                      static))
        else:
            last = p + 1
    if stack:
        raise ParseError(src.line_of(stack[-1][1]),
                         "a `{` that is never closed")
    return funcs


class ParseError(Exception):
    def __init__(self, line, what):
        super().__init__(what)
        self.line = line
        self.what = what


# ------------------------------------------------------------------- rules

class Violation:
    def __init__(self, path, line, rule, message):
        self.path = path
        self.line = line
        self.rule = rule
        self.message = message

    def __str__(self):
        return f"{self.path}:{self.line}: [{self.rule}] {self.message}"


def _files(root, top, exts):
    base = os.path.join(root, top)
    out = []
    for d, dirs, names in os.walk(base):
        dirs.sort()
        for n in sorted(names):
            if n.endswith(exts):
                out.append(os.path.relpath(os.path.join(d, n), root))
    return out


class Tree:
    """The files of a checkout, read and lexed once."""

    def __init__(self, root):
        self.root = root
        self._sources = {}

    def source(self, rel):
        if rel not in self._sources:
            with open(os.path.join(self.root, rel), encoding="utf-8",
                      errors="replace") as f:
                self._sources[rel] = Source(rel, f.read())
        return self._sources[rel]


def check_lengths(tree, out, max_lines=MAX_LINES):
    for top in LENGTH_ROOTS:
        for rel in _files(tree.root, top, C_EXTS):
            src = tree.source(rel)
            try:
                funcs = find_functions(src)
            except ParseError as e:
                out.append(Violation(rel, e.line, "parse", e.what +
                                     ": the layout check cannot read this "
                                     "file"))
                continue
            for f in funcs:
                if f.length <= max_lines:
                    continue
                note = src.comment_above(f.sig_line)
                k = note.find(WHY_LONG)
                reason = note[k + len(WHY_LONG):].strip(" \t\n*/") \
                    if k >= 0 else ""
                if reason:
                    continue
                tail = (f"; `{WHY_LONG}` needs a reason after it" if k >= 0
                        else f"; split it, or say `{WHY_LONG} <reason>` in "
                             "the comment right above its signature")
                out.append(Violation(
                    rel, f.first_line, "function-length",
                    f"{f.name} is {f.length} lines (lines {f.first_line}-"
                    f"{f.last_line}, limit {max_lines}){tail}"))


_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"', re.M)


def _includes(src):
    """(line, path) of each #include "..." outside comments."""
    for m in _INCLUDE.finditer(src.code):
        q = m.end()
        e = src.text.find('"', q)
        if e > q:
            yield src.line_of(m.start()), src.text[q:e]


def _order_name(folder):
    return "api.cpp" if folder == "" else folder + "/"


def check_includes(tree, out):
    order = " -> ".join(_order_name(f) for f in SRC_ORDER[:-2]) + \
        " -> (api.cpp, include/)"
    rank = {f: i for i, f in enumerate(SRC_ORDER)}
    rank[""] = rank["include"]  # api.cpp and include/ are one level
    src_root = os.path.join(tree.root, "src")
    for rel in _files(tree.root, "src", C_EXTS):
        parts = rel.split(os.sep)[1:]
        folder = parts[0] if len(parts) > 1 else ""
        if folder not in rank:
            out.append(Violation(rel, 1, "include-order",
                                 f"src/{folder}/ is not in the documented "
                                 f"order {order}: add it to the order "
                                 "(tools/check_layout.py and "
                                 "docs/ARCHITECTURE.md)"))
            continue
        src = tree.source(rel)
        here = os.path.dirname(os.path.join(tree.root, rel))
        for line, inc in _includes(src):
            local = os.path.normpath(os.path.join(here, inc))
            if os.path.exists(local):
                target = os.path.relpath(local, src_root)
            elif os.path.exists(os.path.join(src_root, "include", inc)):
                target = os.path.join("include", inc)
            else:
                target = os.path.normpath(inc)
            if target.startswith(".."):
                continue  # outside src/: not ours to order
            tparts = target.split(os.sep)
            tfolder = tparts[0] if len(tparts) > 1 else ""
            if tfolder not in rank:
                continue  # a system or generated header
            if rank[tfolder] <= rank[folder]:
                continue
            if (folder, "/".join(tparts)) in SRC_ALLOWED_UP:
                continue
            out.append(Violation(
                rel, line, "include-order",
                f"{_order_name(folder)} includes \"{inc}\" of "
                f"{_order_name(tfolder)}, which comes later in the order "
                f"{order}"))


_IDENT = re.compile(r"\b[A-Za-z_]\w*\b")


def _strongly_connected(nodes, edges):
    """Tarjan's strongly connected components, iteratively."""
    index = {}
    low = {}
    on = set()
    stack = []
    comps = []
    counter = [0]
    for v0 in nodes:
        if v0 in index:
            continue
        work = [(v0, iter(sorted(edges.get(v0, ()))))]
        index[v0] = low[v0] = counter[0]
        counter[0] += 1
        stack.append(v0)
        on.add(v0)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                    advanced = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                comps.append(sorted(comp))
    return comps


def _shortest_path(edges, start, goal, allowed):
    prev = {start: None}
    q = deque([start])
    while q:
        v = q.popleft()
        if v == goal:
            break
        for w in sorted(edges.get(v, ())):
            if w in allowed and w not in prev:
                prev[w] = v
                q.append(w)
    path = [goal]
    while prev[path[-1]] is not None:
        path.append(prev[path[-1]])
    return list(reversed(path))


def check_call_cycles(tree, out):
    files = [r for r in _files(tree.root, "ngx_module", (".c",))]
    defined = {}  # function name -> [(file, line)]
    parsed = {}
    for rel in files:
        src = tree.source(rel)
        try:
            parsed[rel] = find_functions(src)
        except ParseError as e:
            out.append(Violation(rel, e.line, "parse", e.what +
                                 ": the layout check cannot read this file"))
            parsed[rel] = []
        for f in parsed[rel]:
            if not f.static:
                defined.setdefault(f.name, []).append((rel, f.sig_line))
    # edges[a][b] = [(line, name)] of a's uses of b's functions
    edges = {}
    for rel in files:
        src = tree.source(rel)
        own = {f.name for f in parsed[rel]}
        for m in _IDENT.finditer(src.code):
            if m.group() in own:
                continue
            for owner, _ in defined.get(m.group(), ()):
                if owner != rel:
                    edges.setdefault(rel, {}).setdefault(owner, []).append(
                        (src.line_of(m.start()), m.group()))
    for comp in _strongly_connected(files, edges):
        if len(comp) < 2:
            continue
        members = set(comp)
        for a in comp:
            for b in sorted(edges.get(a, {})):
                if b not in members:
                    continue
                back = _shortest_path(edges, b, a, members)
                cycle = " -> ".join(os.path.basename(x) for x in [a] + back)
                line, name = edges[a][b][0]
                def_line = next(ln for f, ln in defined[name] if f == b)
                more = len(edges[a][b]) - 1
                also = f" (and {more} more use{'s' if more > 1 else ''})" \
                    if more else ""
                out.append(Violation(
                    a, line, "ngx-call-cycle",
                    f"uses {name}() of {b}:{def_line}{also}, and "
                    f"{os.path.basename(b)} reaches back: {cycle}"))


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=os.path.dirname(here),
                    help="the checkout to check (default: this script's)")
    ap.add_argument("--functions", action="store_true",
                    help="list every function found, with its length")
    args = ap.parse_args(argv)
    tree = Tree(os.path.abspath(args.root))

    if args.functions:
        for top in LENGTH_ROOTS:
            for rel in _files(tree.root, top, C_EXTS):
                for f in find_functions(tree.source(rel)):
                    print(f"{f.length:5d} {rel}:{f.first_line} {f.name}")
        return 0

    out = []
    check_call_cycles(tree, out)
    check_includes(tree, out)
    check_lengths(tree, out)
    for v in out:
        print(v)
    if out:
        rules = sorted({v.rule for v in out})
        print(f"check-layout: {len(out)} violation"
              f"{'s' if len(out) > 1 else ''} ({', '.join(rules)}); "
              "the rules are in docs/ARCHITECTURE.md", file=sys.stderr)
        return 1
    print("check-layout: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
