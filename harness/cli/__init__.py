"""The `certchaos` command line: one module per group of subcommands, assembled by harness.cli.main."""
