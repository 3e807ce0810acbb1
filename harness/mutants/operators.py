"""The mutation operators over Go tokens, as gremlins, PIT and go-mutesting name them: where each applies, what it does.

Each operator yields Sites: a span of the source and its replacement, chosen from tokens alone (no types),
so a few mutants will not compile (an `a + b` of two string variables, say): those are "not built" and left
out of the score, as mutation tools do. What tokens can tell is used to avoid them: unary and pointer `*`,
`-`, `+` are told from binary ones by what precedes them and by gofmt's spacing; a `+` next to a string
literal is concatenation; a removed call is wrapped in `if false { ... }` so its variables and imports
stay used; an error is swallowed only where the variable is used elsewhere in the function.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterator

from harness.mutants.gotokens import IDENT, KEYWORD, LITERALS, OP, SEMI, STRING, Token, matching

NEGATION, BOUNDARY, ARITHMETIC = "conditionals-negation", "conditionals-boundary", "arithmetic-base"
INCREMENT, ERROR, CALL, BOOLEAN = "increment-decrement", "error-swallowed", "call-removed", "boolean-flipped"

DESCRIPTIONS = {
    NEGATION: "== and != swapped",
    BOUNDARY: "< and <=, > and >= swapped",
    ARITHMETIC: "binary + and -, * and / swapped (not string concatenation)",
    INCREMENT: "++ and -- swapped",
    ERROR: "an error variable returned becomes nil (the error is swallowed)",
    CALL: "a call statement never runs (wrapped in `if false { ... }`)",
    BOOLEAN: "true and false swapped in a condition or a returned value",
}

_SWAPS = {
    NEGATION: {"==": "!=", "!=": "=="},
    BOUNDARY: {"<": "<=", "<=": "<", ">": ">=", ">=": ">"},
    ARITHMETIC: {"+": "-", "-": "+", "*": "/", "/": "*"},
    INCREMENT: {"++": "--", "--": "++"},
}
# Names of error (and validation ErrorList) variables: err, errs, allErrs, someErr; `el` is the
# field.ErrorList of cert-manager's webhook validation.
_ERROR_NAME = re.compile(r"err|errs|el|[a-z]\w*Errs?")
# Calls PIT leaves alone by default: logging (a removed log line changes nothing the catalogue may claim).
_LOG_ROOTS = frozenset({"log", "logf", "logger", "dbg", "klog"})
# `panic(...)` ends a function: wrapped in `if false`, the function would lack its terminating statement.
_TERMINATING = frozenset({"panic"})
# Calls that return strings: a `+` beside one is concatenation.
_STRING_CALLS = frozenset({"Sprintf", "Sprint", "String", "Error", "Join", "string", "Itoa", "Quote", "TrimSuffix",
                           "TrimPrefix", "ToLower", "ToUpper", "Fqdn", "ToFqdn"})
_CHAIN_OPS = frozenset({".", "+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>", "&^", "!"})
_CONDITION_NEIGHBOURS = frozenset({"==", "!=", "&&", "||"})


@dataclass(frozen=True)
class Site:
    """Replace source[start:end] by `replacement`: one mutant."""

    operator: str
    start: int
    end: int
    replacement: str


def _op(token: Token | None, *texts: str) -> bool:
    return token is not None and token.kind == OP and token.text in texts


def _ends_operand(tokens: list[Token], index: int) -> bool:
    """Whether tokens[index] ends an operand, so an operator after it is binary (not unary, not a type's *)."""
    token = tokens[index]
    if token.kind in (IDENT, *LITERALS) or _op(token, ")"):
        return True
    if not _op(token, "]"):
        return False
    opening = matching(tokens, index)
    # `[]*T`, `map[K]*V`, `[4]*T` are types; `a[i]*b` indexes an operand.
    return opening > 0 and opening != index - 1 and not (tokens[opening - 1].kind == KEYWORD) \
        and _ends_operand(tokens, opening - 1)


def _is_binary(tokens: list[Token], index: int, source: str) -> bool:
    """gofmt spaces a binary operator on both sides or on neither; `a *T` (a pointer type) on one side."""
    if index == 0 or not _ends_operand(tokens, index - 1):
        return False
    token = tokens[index]
    before = source[token.start - 1] in " \t"
    after = token.end < len(source) and source[token.end] in " \t\n"
    return before == after


def _chain(tokens: list[Token], index: int, step: int) -> list[int]:
    """The operands and arithmetic around tokens[index], one way, up to a comparison, comma or statement end."""
    found: list[int] = []
    position = index + step
    while 0 <= position < len(tokens):
        token = tokens[position]
        if _op(token, ")", "]") if step < 0 else _op(token, "(", "["):
            other = matching(tokens, position)
            if other < 0:
                break
            found.append(position)  # a bracket group: its inside is not the chain's own level
            position = other + step
            continue
        if token.kind in (IDENT, *LITERALS) or (token.kind == OP and token.text in _CHAIN_OPS):
            found.append(position)
            position += step
            continue
        break
    return found


def _concatenates_strings(tokens: list[Token], index: int) -> bool:
    chain = _chain(tokens, index, -1) + _chain(tokens, index, +1)
    if any(tokens[i].kind == STRING for i in chain):
        return True
    calls = {tokens[i].text for i in chain if i + 1 < len(tokens) and _op(tokens[i + 1], "(")}
    return bool(calls & _STRING_CALLS)


def swaps(tokens: list[Token], source: str) -> Iterator[Site]:
    """Negated and boundary conditionals, arithmetic, increment/decrement: one token for another."""
    for index, token in enumerate(tokens):
        if token.kind != OP:
            continue
        for operator, table in _SWAPS.items():
            if token.text not in table:
                continue
            if operator == ARITHMETIC and not _is_binary(tokens, index, source):
                continue
            if operator == ARITHMETIC and token.text == "+" and _concatenates_strings(tokens, index):
                continue
            yield Site(operator, token.start, token.end, table[token.text])


def _statement_end(tokens: list[Token], index: int) -> int:
    """The index of the semicolon (or block's closing brace) ending the statement that holds tokens[index]."""
    position = index
    while position < len(tokens):
        token = tokens[position]
        if token.kind == SEMI or _op(token, "}"):
            return position
        if _op(token, "(", "[", "{"):
            position = matching(tokens, position)
            if position < 0:
                return len(tokens)
        position += 1
    return len(tokens)


def function_spans(tokens: list[Token]) -> list[tuple[int, int]]:
    """(first, last) token index of each top-level function, from `func` to its body's closing brace."""
    spans, depth, index = [], 0, 0
    while index < len(tokens):
        token = tokens[index]
        if _op(token, "{", "(", "["):
            depth += 1
        elif _op(token, "}", ")", "]"):
            depth -= 1
        elif token.kind == KEYWORD and token.text == "func" and depth == 0:
            body = _body(tokens, index)
            if body >= 0:
                end = matching(tokens, body)
                spans.append((index, end))
                index = end + 1
                continue
        index += 1
    return spans


def _body(tokens: list[Token], func: int) -> int:
    """The index of the `{` opening the body of the function declared at tokens[func]; -1 if it has none."""
    position = func + 1
    while position < len(tokens):
        token = tokens[position]
        if _op(token, "(", "["):
            position = matching(tokens, position)
        elif _op(token, "{"):
            if tokens[position - 1].text not in ("interface", "struct"):
                return position
            position = matching(tokens, position)
        elif token.kind == SEMI:
            return -1
        if position < 0:
            return -1
        position += 1
    return -1


def _is_use(tokens: list[Token], index: int) -> bool:
    """Whether the identifier at `index` is read there (not declared, assigned or a selected field)."""
    if index > 0 and (_op(tokens[index - 1], ".") or tokens[index - 1].text == "var"):
        return False
    position = index + 1
    while position + 1 < len(tokens) and _op(tokens[position], ",") and tokens[position + 1].kind == IDENT:
        position += 2  # `err, b := ...`
    return position >= len(tokens) or not _op(tokens[position], ":=", "=")


def _used_elsewhere(tokens: list[Token], index: int, span: tuple[int, int]) -> bool:
    """Swallowing a variable's only use would leave it unused: `go build` refuses that."""
    first, last = span
    name = tokens[index].text
    return any(tokens[i].kind == IDENT and tokens[i].text == name and i != index and _is_use(tokens, i)
               for i in range(first, last + 1))


def _results(tokens: list[Token], keyword: int) -> list[tuple[int, int]]:
    """The [first, end) token ranges of a return statement's results, split at its top-level commas."""
    end = _statement_end(tokens, keyword)
    results, first, position = [], keyword + 1, keyword + 1
    while position < end:
        if _op(tokens[position], "(", "[", "{"):
            position = matching(tokens, position)
        elif _op(tokens[position], ","):
            results.append((first, position))
            first = position + 1
        position += 1
    if first < end:
        results.append((first, end))
    return results


def swallowed_errors(tokens: list[Token], source: str) -> Iterator[Site]:
    """`return err`, `return nil, err`, `return el` -> nil in that place."""
    for first, last in function_spans(tokens):
        for index in range(first, last + 1):
            if tokens[index].kind != KEYWORD or tokens[index].text != "return":
                continue
            for start, end in _results(tokens, index):
                token = tokens[start]
                if (end - start == 1 and token.kind == IDENT and _ERROR_NAME.fullmatch(token.text)
                        and _used_elsewhere(tokens, start, (first, last))):
                    yield Site(ERROR, token.start, token.end, "nil")


def removed_calls(tokens: list[Token], source: str) -> Iterator[Site]:
    """A statement that is only a call (`c.queue.Add(key)`, `x.y.Z(a)(b)`) wrapped in `if false { ... }`."""
    bodies = [index for first, last in function_spans(tokens) for index in range(first, last + 1)]
    for index in bodies:  # not in type declarations: an interface's `Update(ctx) error` is no call
        token = tokens[index]
        if token.kind != IDENT or token.text in _LOG_ROOTS or token.text in _TERMINATING:
            continue
        if index > 0 and not (tokens[index - 1].kind == SEMI or _op(tokens[index - 1], "{", ":")):
            continue
        position, called = index + 1, False
        while position < len(tokens):
            if _op(tokens[position], ".") and position + 1 < len(tokens) and tokens[position + 1].kind == IDENT:
                position += 2
            elif _op(tokens[position], "(", "["):
                called = tokens[position].text == "("
                position = matching(tokens, position)
                if position < 0:
                    break
                position += 1
            else:
                break
        if called and 0 < position < len(tokens) and tokens[position].kind == SEMI:
            stop = tokens[position - 1].end
            yield Site(CALL, token.start, stop, f"if false {{ {source[token.start:stop]} }}")


def flipped_booleans(tokens: list[Token], source: str) -> Iterator[Site]:
    """`true` <-> `false` where it decides: beside && || == != or after !, as an if/for/case condition, returned."""
    for index, token in enumerate(tokens):
        if token.kind != IDENT or token.text not in ("true", "false") or index == 0:
            continue
        before, after = tokens[index - 1], tokens[index + 1] if index + 1 < len(tokens) else None
        in_condition = (_op(before, "!", *_CONDITION_NEIGHBOURS) or _op(after, *_CONDITION_NEIGHBOURS)
                        or (before.text in ("if", "for", "case") and _op(after, "{", ":", ",")))
        returned = (_returned(tokens, index) and after is not None
                    and (after.kind == SEMI or _op(after, ",", "}")))
        if in_condition or returned:
            yield Site(BOOLEAN, token.start, token.end, "false" if token.text == "true" else "true")


def _returned(tokens: list[Token], index: int) -> bool:
    """Whether tokens[index] is a whole result of a return statement (`return x.y, true`), not inside one."""
    if not (_op(tokens[index - 1], ",") or tokens[index - 1].text == "return"):
        return False
    position = index - 1
    while position >= 0:
        token = tokens[position]
        if _op(token, ")", "]", "}"):
            position = matching(tokens, position)  # a closed group before it: `f(a), true`
        elif token.kind == SEMI or _op(token, "(", "[", "{", ":"):
            return False  # the statement began without `return`, or the literal is inside a call or literal
        elif token.kind == KEYWORD:
            return token.text == "return"
        if position < 0:
            return False
        position -= 1
    return False


OPERATORS: tuple[Callable[[list[Token], str], Iterator[Site]], ...] = (
    swaps, swallowed_errors, removed_calls, flipped_booleans)


def sites(tokens: list[Token], source: str) -> list[Site]:
    """Every site of every operator, in source order (the order names and samples are drawn in)."""
    found = [site for operator in OPERATORS for site in operator(tokens, source)]
    return sorted(found, key=lambda site: (site.start, site.operator))
