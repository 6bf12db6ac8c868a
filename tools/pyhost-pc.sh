#!/usr/bin/env bash
# Writes pyhost.pc, the pkg-config file cgo finds the library through:
#   tools/pyhost-pc.sh PREFIX LIBDIR INCLUDEDIR VERSION > pyhost.pc
set -euo pipefail
prefix=$1 libdir=$2 includedir=$3 version=$4
cat <<PC
prefix=$prefix
libdir=$libdir
includedir=$includedir

Name: pyhost
Description: Python plugins in-process for Go and C programs (the pyhost C API)
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -lpyhost_core -ldl -lpthread -lm -lgcc_s
PC
