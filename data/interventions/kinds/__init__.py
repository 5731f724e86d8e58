"""One module per intervention kind, each declaring `KIND`; the registry discovers them all."""
