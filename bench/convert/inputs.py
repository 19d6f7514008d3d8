#!/usr/bin/env python3
"""Writes the crafted hostile inputs of issue 11 item 6 at a given size.

usage: inputs.py NAME BYTES > file      (NAME from --list)
Each input is what a Mattermost or Teams user can send; `direction` says which converter reads it.
"""
import json
import sys


def fill(unit: str, size: int) -> str:
    return unit * max(1, size // len(unit))


def md_wide_table(size: int) -> str:
    # A header and delimiter with as many columns as a quarter of the budget allows, then short rows: cmark-gfm
    # pads every row to the header's width.
    cols = max(2, size // 16)
    head = "|" + "a|" * cols + "\n" + "|" + "-|" * cols + "\n"
    return head + fill("x\n", size - len(head))


def md_brackets(size: int) -> str:
    return fill("![[]()", size)


def md_emails(size: int) -> str:
    # The autolink extension costs kilobytes per e-mail address in Debian's cmark-gfm.
    return fill("a@b.c ", size)


def html_lists(size: int) -> str:
    return fill("<ul/><ol/>", size)


def html_reopened(size: int) -> str:
    # Distinct formatting elements left open, then paragraphs: each paragraph re-creates all of them.
    half = size // 2
    tags = "<p>" + "".join(f'<b class="c{i}">' for i in range(half // 16)) + "</p>"
    return tags + fill("<p>x</p>", size - len(tags))


def html_wide_row(size: int) -> str:
    # A table whose first row has most of the cells, then many one-cell rows.
    half = size // 2
    return "<table><tr>" + fill("<td>x</td>", half) + "</tr>" + fill("<tr><td>y</td></tr>", half) + "</table>"


def html_deep_quotes(size: int) -> str:
    # 250 nested quotes (within the depth limit) over as many lines as fit: every level prefixes every line.
    return "<blockquote>" * 250 + fill("x<br>", size - 3000)


def json_deep(size: int) -> str:
    return fill("[", size // 2) + fill("]", size // 2)


def json_deep_message(size: int) -> str:
    return '{"body":{"contentType":"html","content":"x"},"x":' + json_deep(size - 64) + "}"


INPUTS = {
    "md-wide-table": ("markdown", md_wide_table),
    "md-brackets": ("markdown", md_brackets),
    "md-emails": ("markdown", md_emails),
    "html-lists": ("teams-html", html_lists),
    "html-reopened-formatting": ("teams-html", html_reopened),
    "html-wide-row": ("teams-html", html_wide_row),
    "html-deep-quotes": ("teams-html", html_deep_quotes),
    "json-deep-message": ("message-json", json_deep_message),
}

if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "--list":
        for name, (direction, _) in INPUTS.items():
            print(name, direction)
        sys.exit(0)
    if len(sys.argv) != 3 or sys.argv[1] not in INPUTS:
        sys.exit(__doc__)
    sys.stdout.write(INPUTS[sys.argv[1]][1](int(sys.argv[2])))
