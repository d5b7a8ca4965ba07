package sui

import "testing"

// The inner-state field IDs of the public networks at version 3, as the
// design notes record them (CHAIN.md §2); the SDK fixtures check the
// recipe independently.
func TestInnerStateIDPublicNetworks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		outer Address
		want  string
	}{
		{"mainnet system", Mainnet.System, "0x0b2d4076d3a0b82a632144e835cd972527b185bda9d55011a9cc38fe557a475d"},
		{"mainnet staking", Mainnet.Staking, "0xa1d6719d0447c536a41688d5762449782bed731ac708659d98f9bff668b555b3"},
		{"testnet system", Testnet.System, "0x7fb94d17d38b895b1aaa25319343970b04b3cebfba7940ceddff8dfcedade095"},
		{"testnet staking", Testnet.Staking, "0x5343c053fbd861264dcd24ce3eabf652c671e3afa7d25f90b0986a7462830171"},
	} {
		if got := InnerStateID(tc.outer, 3).String(); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
}
