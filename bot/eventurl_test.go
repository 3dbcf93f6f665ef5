package bot

import "testing"

func TestEventURL(t *testing.T) {
	const tmpl = "https://{region}.console.aws.amazon.com/cloudtrailv2/home?region={region}#/events/{event_id}"
	ref := EventRef{Source: "prod", Account: "111122223333", Region: "eu-west-1", ID: "865d9377-9c6b-4fd7-8aad-725e95f6a140"}
	for _, tc := range []struct {
		name string
		tmpl string
		ref  func(r EventRef) EventRef
		want string
	}{
		{"cloudtrail", tmpl, func(r EventRef) EventRef { return r }, "https://eu-west-1.console.aws.amazon.com/cloudtrailv2/home?region=eu-west-1#/events/865d9377-9c6b-4fd7-8aad-725e95f6a140"},
		{"account and source", "https://logs.example/{account}/{source}", func(r EventRef) EventRef { return r }, "https://logs.example/111122223333/prod"},
		{"no template", "", func(r EventRef) EventRef { return r }, ""},
		{"missing event id", tmpl, func(r EventRef) EventRef { r.ID = ""; return r }, ""},
		{"hostile region", tmpl, func(r EventRef) EventRef { r.Region = "evil.example/x?"; return r }, ""},
		{"region with @", tmpl, func(r EventRef) EventRef { r.Region = "x@evil.example"; return r }, ""},
		{"unused value may be empty", "https://x.example/{event_id}", func(r EventRef) EventRef { r.Region = ""; return r }, "https://x.example/865d9377-9c6b-4fd7-8aad-725e95f6a140"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := EventURL(tc.tmpl, tc.ref(ref)); got != tc.want {
				t.Fatalf("EventURL=%q, want %q", got, tc.want)
			}
		})
	}
}
