"""certchaos harness: stack providers, binaries, PKI, waits, scenario engine, CLI and pytest plugin."""
