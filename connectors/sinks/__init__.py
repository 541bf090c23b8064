"""One module per notification target; ``connectors.registry`` maps config lists to them."""
