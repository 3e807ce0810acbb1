"""Mutation testing of cert-manager against the scenario catalogue.

A harness is worth what it catches: each mutant (catalogue.toml) breaks one behaviour the catalogue claims
to check; `certchaos mutants run` builds it from a patched copy of the pinned cert-manager source and runs
the owning scenarios against it through --bin-dir. catalogue (the data), patch (applying an edit exactly),
build (copy, patch, go build, cache), runner (one mutant's verdict), report (score, Markdown, JSON).
Mutants nobody chose: gotokens (a Go lexer), operators (the standard mutation operators over its tokens),
generate (every site in the claimed packages as a Mutant), sample (a seeded draw, survivors classified).
"""
