# The entry points. `make run` and `make test` are the two README commands; CI runs `make test`.

run:  ## set up, then open the desktop app
	scripts/run.sh

serve:  ## set up, then run the engine headless, serving the UI to browsers on the control port
	scripts/setup.sh
	cd ui && npm run --silent build
	cargo run -p switchboard --release --locked -- serve

package:  ## build the installable .deb (target/release/bundle/deb/)
	scripts/setup.sh
	ui/node_modules/.bin/tauri build --bundles deb

package-server:  ## build the headless server's .deb (target/release/bundle/server/): docs/SERVER.md
	scripts/setup.sh
	scripts/package-server.sh

test:  ## everything CI checks
	scripts/test.sh

.PHONY: run serve package package-server test
