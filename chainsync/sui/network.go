package sui

import (
	"fmt"
	"strings"
)

// Network holds the constants of one Walrus deployment on Sui. Package IDs
// here are defaults and sanity checks only: the package to call is read
// from the System object (Versioned.PackageID), since it changes on every
// upgrade.
type Network struct {
	Name string
	// ChainID is the short chain identifier: the first four bytes of the
	// genesis checkpoint digest, in hex.
	ChainID string
	RPC     string // the public full node (gRPC)
	System  Address
	Staking Address
	// TypePackage is the Walrus package's original ID: Blob and event
	// types are named by it for ever.
	TypePackage Address
	WALType     TypeTag // 0x…::wal::WAL
}

// Mainnet and Testnet are the public Walrus deployments (CHAIN.md §1 in
// the design notes gives the sources).
var (
	Mainnet = Network{
		Name:        "mainnet",
		ChainID:     "35834a8a",
		RPC:         "https://fullnode.mainnet.sui.io:443",
		System:      MustAddress("0x2134d52768ea07e8c43570ef975eb3e4c27a39fa6396bef985b5abc58d03ddd2"),
		Staking:     MustAddress("0x10b9d30c28448939ce6c4d6c6e0ffce4a7f8a4ada8248bdad09ef8b70e4a3904"),
		TypePackage: MustAddress("0xfdc88f7d7cf30afab2f82e8380d11ee8f70efb90e863d1de8616fae1bb09ea77"),
		WALType:     MustTypeTag("0x356a26eb9e012a68958082340d4c4116e7f55615cf27affcff209cf0ae544f59::wal::WAL"),
	}
	Testnet = Network{
		Name:        "testnet",
		ChainID:     "4c78adac",
		RPC:         "https://fullnode.testnet.sui.io:443",
		System:      MustAddress("0x6c2547cbbc38025cf3adac45f63cb0a8d12ecf777cdc75a4971612bf97fdf6af"),
		Staking:     MustAddress("0xbe46180321c30aab2f8b3501e24048377287fa708018a5b7c2792b35fe339ee3"),
		TypePackage: MustAddress("0xd84704c17fc870b8764832c535aa6b11f21a95cd6f5bb38a9b07d2cf42220c66"),
		WALType:     MustTypeTag("0x8270feb7375eee355e64fdb69c50abb6b5f9393a722883c1cf45f8e26048810a::wal::WAL"),
	}
)

// LookupNetwork returns the public network called name ("mainnet" or
// "testnet").
func LookupNetwork(name string) (Network, error) {
	switch strings.ToLower(name) {
	case "mainnet":
		return Mainnet, nil
	case "testnet":
		return Testnet, nil
	}
	return Network{}, fmt.Errorf("sui: unknown network %q (mainnet, testnet or local)", name)
}

// FrameworkAddress is 0x2, the Sui framework (coin, transfer, balance).
var FrameworkAddress = MustAddress("0x2")
