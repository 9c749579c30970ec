module gokabench

go 1.26.0

require (
	github.com/IBM/sarama v1.46.3
	github.com/eapache/go-resiliency v1.7.0
	github.com/eapache/go-xerial-snappy v0.0.0-20230731223053-c322873962e3
	github.com/eapache/queue v1.1.0
	github.com/go-stack/stack v1.8.1
	github.com/golang/snappy v1.0.0
	github.com/hashicorp/errwrap v1.1.0
	github.com/hashicorp/go-multierror v1.1.1
	github.com/hashicorp/go-uuid v1.0.3
	github.com/jcmturner/aescts/v2 v2.0.0
	github.com/jcmturner/dnsutils/v2 v2.0.0
	github.com/jcmturner/gofork v1.7.6
	github.com/jcmturner/gokrb5/v8 v8.4.4
	github.com/jcmturner/rpc/v2 v2.0.3
	github.com/klauspost/compress v1.18.3
	github.com/lovoo/goka v1.1.16
	github.com/pierrec/lz4/v4 v4.1.25
	github.com/davecgh/go-spew v1.1.1
	github.com/rcrowley/go-metrics v0.0.0-20250401214520-65e299d6c5c9
	github.com/syndtr/goleveldb v1.0.0
	go.uber.org/mock v0.6.0
	golang.org/x/crypto v0.47.0
	golang.org/x/net v0.49.0
	golang.org/x/sync v0.19.0
	golang.org/x/sys v0.40.0
)

// No module proxy here: every module is unpacked from a git mirror by deps.py.
replace (
	github.com/IBM/sarama => ./deps/github.com/IBM/sarama
	github.com/eapache/go-resiliency => ./deps/github.com/eapache/go-resiliency
	github.com/eapache/go-xerial-snappy => ./deps/github.com/eapache/go-xerial-snappy
	github.com/eapache/queue => ./deps/github.com/eapache/queue
	github.com/go-stack/stack => ./deps/github.com/go-stack/stack
	github.com/golang/snappy => ./deps/github.com/golang/snappy
	github.com/hashicorp/errwrap => ./deps/github.com/hashicorp/errwrap
	github.com/hashicorp/go-multierror => ./deps/github.com/hashicorp/go-multierror
	github.com/hashicorp/go-uuid => ./deps/github.com/hashicorp/go-uuid
	github.com/jcmturner/aescts/v2 => ./deps/github.com/jcmturner/aescts/v2
	github.com/jcmturner/dnsutils/v2 => ./deps/github.com/jcmturner/dnsutils/v2
	github.com/jcmturner/gofork => ./deps/github.com/jcmturner/gofork
	github.com/jcmturner/gokrb5/v8 => ./deps/github.com/jcmturner/gokrb5/v8
	github.com/jcmturner/rpc/v2 => ./deps/github.com/jcmturner/rpc/v2
	github.com/klauspost/compress => ./deps/github.com/klauspost/compress
	github.com/lovoo/goka => ./deps/github.com/lovoo/goka
	github.com/onsi/ginkgo => ./deps/stub/github.com/onsi/ginkgo
	github.com/onsi/gomega => ./deps/stub/github.com/onsi/gomega
	github.com/pierrec/lz4/v4 => ./deps/github.com/pierrec/lz4/v4
	github.com/davecgh/go-spew => ./deps/github.com/davecgh/go-spew
	github.com/rcrowley/go-metrics => ./deps/github.com/rcrowley/go-metrics
	github.com/syndtr/goleveldb => ./deps/github.com/syndtr/goleveldb
	go.uber.org/mock => ./deps/go.uber.org/mock
	golang.org/x/crypto => ./deps/golang.org/x/crypto
	golang.org/x/net => ./deps/golang.org/x/net
	golang.org/x/sync => ./deps/golang.org/x/sync
	golang.org/x/sys => ./deps/golang.org/x/sys
)
