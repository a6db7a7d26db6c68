package suite

import (
	"bytes"
	"testing"

	"github.com/cygnet-ipsec/cygnet/ike/message"
)

// RFC 4231 section 4, test cases 1-3 and 6 (HMAC-SHA-256/384/512).
func TestPRFRFC4231(t *testing.T) {
	cases := []struct {
		name      string
		key, data []byte
		want      map[message.PRFID]string
	}{
		{
			name: "4.2 test case 1",
			key:  bytes.Repeat([]byte{0x0b}, 20),
			data: []byte("Hi There"),
			want: map[message.PRFID]string{
				message.PRFHMACSHA2256: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
				message.PRFHMACSHA2384: "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
				message.PRFHMACSHA2512: "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
			},
		},
		{
			name: "4.3 test case 2",
			key:  []byte("Jefe"),
			data: []byte("what do ya want for nothing?"),
			want: map[message.PRFID]string{
				message.PRFHMACSHA2256: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
				message.PRFHMACSHA2384: "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
				message.PRFHMACSHA2512: "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
			},
		},
		{
			name: "4.4 test case 3",
			key:  bytes.Repeat([]byte{0xaa}, 20),
			data: bytes.Repeat([]byte{0xdd}, 50),
			want: map[message.PRFID]string{
				message.PRFHMACSHA2256: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
				message.PRFHMACSHA2384: "88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b2a5ab39dc13814b94e3ab6e101a34f27",
				message.PRFHMACSHA2512: "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb",
			},
		},
		{
			name: "4.7 test case 6 (key longer than the block)",
			key:  bytes.Repeat([]byte{0xaa}, 131),
			data: []byte("Test Using Larger Than Block-Size Key - Hash Key First"),
			want: map[message.PRFID]string{
				message.PRFHMACSHA2256: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
			},
		},
	}
	for _, c := range cases {
		for _, id := range []message.PRFID{message.PRFHMACSHA2256, message.PRFHMACSHA2384, message.PRFHMACSHA2512} {
			want, ok := c.want[id]
			if !ok {
				continue
			}
			p, err := NewPRF(id)
			if err != nil {
				t.Fatal(err)
			}
			// Split the data to check that Sum concatenates.
			got := p.Sum(c.key, c.data[:3], c.data[3:])
			if !bytes.Equal(got, unhex(t, want)) {
				t.Errorf("%s %v = %x, want %s", c.name, id, got, want)
			}
			if p.Size() != len(got) || p.KeySize() != len(got) || p.ID() != id {
				t.Errorf("%v: Size %d KeySize %d for %d-byte output", id, p.Size(), p.KeySize(), len(got))
			}
		}
	}
}

func TestPRFUnsupported(t *testing.T) {
	for _, id := range []message.PRFID{0, message.PRFHMACMD5, message.PRFAES128XCBC, 99} {
		if _, err := NewPRF(id); err == nil {
			t.Errorf("NewPRF(%v) succeeded", id)
		}
	}
}
