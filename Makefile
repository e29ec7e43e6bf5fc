run:
	scripts/run.sh

serve:
	scripts/setup.sh
	cargo run -p switchboard --release --locked -- serve

test:
	scripts/test.sh

.PHONY: run serve test
