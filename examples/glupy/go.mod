module example.com/glupy

go 1.26.0

require pyhost.dev/pyhost v0.0.0

replace pyhost.dev/pyhost => ../../go-shim
