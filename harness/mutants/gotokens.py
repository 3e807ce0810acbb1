"""A Go lexer, enough to mutate Go source safely: tokens with offsets, no strings or comments mistaken for code.

The generator must never turn a `==` inside a string, a rune, a raw string or a comment into `!=`, and it
needs statement ends (the semicolons Go inserts at line ends, per the spec's "Semicolons" rule) to find
call statements and return statements. A full parser would need a Go program; tokens are enough for the
operators, and this lexer follows the spec's lexical grammar (identifiers, keywords, operators, numbers,
runes, strings, raw strings, comments).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.errors import HarnessError

KEYWORDS = frozenset({
    "break", "case", "chan", "const", "continue", "default", "defer", "else", "fallthrough", "for", "func",
    "go", "goto", "if", "import", "interface", "map", "package", "range", "return", "select", "struct",
    "switch", "type", "var",
})
# Longest first, so "<<=" wins over "<<" and "<".
OPERATORS = sorted("""
    + - * / % & | ^ << >> &^ += -= *= /= %= &= |= ^= <<= >>= &^= && || <- ++ -- == < > = ! ~ != <= >= :=
    ... ( ) [ ] { } , ; . :
""".split(), key=len, reverse=True)

IDENT, KEYWORD, NUMBER, RUNE, STRING, OP, SEMI = "ident", "keyword", "number", "rune", "string", "op", "semi"
LITERALS = (NUMBER, RUNE, STRING)

_SPACE = re.compile(r"[ \t\r]+")
_IDENT = re.compile(r"[^\W\d]\w*")
_NUMBER = re.compile(r"""
    0[xX][0-9a-fA-F_]*(?:\.[0-9a-fA-F_]*)?(?:[pP][+-]?[0-9_]+)?i?   # hex, hex float
  | 0[bBoO][0-9_]+i?                                               # binary, octal
  | (?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9_]+)?i?   # decimal, float, imaginary
""", re.VERBOSE)
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_RAW_STRING = re.compile(r"`[^`]*`")
_RUNE = re.compile(r"'(?:[^'\\\n]|\\.)*'")
_LINE_COMMENT = re.compile(r"//[^\n]*")
_BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_OPERATOR = re.compile("|".join(re.escape(op) for op in OPERATORS))
# The spec: a newline ends the statement after an identifier, a literal, these keywords or these operators.
_ENDS_STATEMENT_KEYWORDS = frozenset({"break", "continue", "fallthrough", "return"})
_ENDS_STATEMENT_OPS = frozenset({"++", "--", ")", "]", "}"})


class TokenizeError(HarnessError):
    def __init__(self, where: str, line: int, what: str):
        super().__init__(f"cannot read Go source {where}:{line}: {what}. Fix: check the file is Go source "
                         f"(the generator reads only *.go files that `go build` compiles)")


@dataclass(frozen=True)
class Token:
    kind: str
    text: str  # for an inserted semicolon: "" (it stands at the newline)
    start: int  # offset of the first character in the source
    end: int  # offset past the last character
    line: int  # 1-based line of the first character

    @property
    def auto(self) -> bool:
        """A semicolon Go inserted at a line end (or at the end of the file)."""
        return self.kind == SEMI and self.text == ""


def _ends_statement(token: Token | None) -> bool:
    if token is None:
        return False
    return (token.kind in (IDENT, *LITERALS) or (token.kind == KEYWORD and token.text in _ENDS_STATEMENT_KEYWORDS)
            or (token.kind == OP and token.text in _ENDS_STATEMENT_OPS))


def tokenize(source: str, where: str = "<source>") -> list[Token]:
    """The significant tokens of `source` (comments dropped) with Go's inserted semicolons; TokenizeError else."""
    tokens: list[Token] = []
    position, line = 0, 1

    def newline_at(offset: int) -> None:
        last = tokens[-1] if tokens else None
        if _ends_statement(last):
            tokens.append(Token(SEMI, "", offset, offset, line))

    while position < len(source):
        char = source[position]
        if char == "\n":
            newline_at(position)
            position, line = position + 1, line + 1
            continue
        if match := _SPACE.match(source, position):
            position = match.end()
            continue
        if match := _LINE_COMMENT.match(source, position):
            position = match.end()  # the newline after it is handled as any newline
            continue
        if source.startswith("/*", position):
            match = _BLOCK_COMMENT.match(source, position)
            if match is None:
                raise TokenizeError(where, line, "a /* comment is not closed")
            lines = match.group().count("\n")
            if lines:  # a general comment spanning lines acts like a newline
                newline_at(position)
            position, line = match.end(), line + lines
            continue
        kind, match = _literal_or_word(source, position)
        if match is None:
            raise TokenizeError(where, line, f"unexpected character {char!r}")
        text = match.group()
        if kind == IDENT and text in KEYWORDS:
            kind = KEYWORD
        elif kind == OP and text == ";":
            kind = SEMI
        tokens.append(Token(kind, text, position, match.end(), line))
        position, line = match.end(), line + text.count("\n")  # raw strings may span lines
    newline_at(len(source))
    return tokens


def _literal_or_word(source: str, position: int) -> tuple[str, re.Match | None]:
    char = source[position]
    if char == '"':
        return STRING, _STRING.match(source, position)
    if char == "`":
        return STRING, _RAW_STRING.match(source, position)
    if char == "'":
        return RUNE, _RUNE.match(source, position)
    if char.isdigit() or (char == "." and source[position + 1:position + 2].isdigit()):
        return NUMBER, _NUMBER.match(source, position)
    if match := _IDENT.match(source, position):
        return IDENT, match
    return OP, _OPERATOR.match(source, position)


def matching(tokens: list[Token], index: int) -> int:
    """The index of the bracket that closes (or opens) the one at `index`; -1 when unbalanced."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    opening = tokens[index].text
    step = 1 if opening in pairs else -1
    closing = pairs.get(opening) or {v: k for k, v in pairs.items()}[opening]
    depth = 0
    for position in range(index, len(tokens) if step == 1 else -1, step):
        text = tokens[position].text if tokens[position].kind == OP else ""
        if text == opening:
            depth += 1
        elif text == closing:
            depth -= 1
            if depth == 0:
                return position
    return -1
