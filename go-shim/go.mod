module pyhost.dev/pyhost

go 1.22
