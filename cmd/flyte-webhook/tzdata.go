package main

// The zone database is embedded (about 450 kB): a trigger's time_zone must load on a machine
// without /usr/share/zoneinfo, which is where the static binary (CGO_ENABLED=0) often runs:
// a scratch or distroless container. time.LoadLocation still prefers the system's files when
// there are any, so a machine with newer zone data keeps using it.
import _ "time/tzdata"
