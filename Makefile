# jobrun: build, demo, tests. `make help` lists the targets.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN     := bin/jobrun

.PHONY: help build demo test test-short lint bench clean

help:
	@echo "make build   build bin/jobrun (static)"
	@echo "make demo    build jobrun and the example trainer image, run examples/quickstart"
	@echo "make test    run every test (needs a running Docker Engine)"
	@echo "make lint    go vet and staticcheck"
	@echo "make bench   compare jobrun's overhead with a bare docker run"

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) .

examples/quickstart/container/trainer: $(wildcard testdata/trainer/*.go)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o $@ ./testdata/trainer

demo: build examples/quickstart/container/trainer
	$(BIN) local examples/quickstart/train.yaml --output runs
	@echo
	@echo "model:" && ls -l runs/$$(ls -t runs | head -n1)/model

test: build
	CGO_ENABLED=0 $(GO) test -count=1 -timeout 20m ./...

lint:
	$(GO) vet ./...
	staticcheck ./...

bench: build examples/quickstart/container/trainer
	bash bench/overhead.sh

clean:
	rm -rf bin runs examples/quickstart/container/trainer
