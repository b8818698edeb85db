module github.com/ticketq/ticketq

go 1.26.8

require (
	github.com/gorilla/mux v1.8.1
	github.com/mattn/go-isatty v0.0.20
	github.com/oklog/run v1.2.0
	github.com/rs/zerolog v1.35.1
	go.etcd.io/bbolt v1.5.0
)

require (
	github.com/mattn/go-colorable v0.1.14 // indirect
	golang.org/x/sys v0.45.0 // indirect
)
