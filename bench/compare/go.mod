module pyhost.dev/bench-compare

go 1.26.0

require (
	example.com/glupy v0.0.0
	github.com/vmihailenco/msgpack/v5 v5.4.1
	pyhost.dev/pyhost v0.0.0
)

require github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect

replace (
	example.com/glupy => ../../examples/glupy
	pyhost.dev/pyhost => ../../go-shim
)
