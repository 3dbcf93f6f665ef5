package athena

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// topLevel gives each selected column its CloudTrail record key.
var topLevel = map[string]string{
	"eventversion":        "eventVersion",
	"useridentity":        "userIdentity",
	"eventtime":           "eventTime",
	"eventsource":         "eventSource",
	"eventname":           "eventName",
	"awsregion":           "awsRegion",
	"sourceipaddress":     "sourceIPAddress",
	"useragent":           "userAgent",
	"errorcode":           "errorCode",
	"errormessage":        "errorMessage",
	"requestparameters":   "requestParameters",
	"responseelements":    "responseElements",
	"additionaleventdata": "additionalEventData",
	"requestid":           "requestID",
	"eventid":             "eventID",
	"readonly":            "readOnly",
	"resources":           "resources",
	"eventtype":           "eventType",
	"apiversion":          "apiVersion",
	"recipientaccountid":  "recipientAccountId",
	"serviceeventdetails": "serviceEventDetails",
	"sharedeventid":       "sharedEventID",
	"vpcendpointid":       "vpcEndpointId",
	"eventcategory":       "eventCategory",
	"tlsdetails":          "tlsDetails",
}

// jsonText are the columns the table keeps as JSON text; the record has
// them as JSON values.
var jsonText = map[string]bool{
	"requestparameters": true, "responseelements": true, "additionaleventdata": true,
	"serviceeventdetails": true, "useridentity": true, "resources": true, "tlsdetails": true,
}

// structCols are the struct and array columns selected as JSON, whose
// field names are the table's and not CloudTrail's.
var structCols = map[string]bool{"useridentity": true, "resources": true, "tlsdetails": true}

// nested gives the table's lower-case struct field names CloudTrail's
// spelling, inside userIdentity, resources and tlsDetails.
var nested = map[string]string{
	"principalid":              "principalId",
	"accountid":                "accountId",
	"invokedby":                "invokedBy",
	"accesskeyid":              "accessKeyId",
	"username":                 "userName",
	"onbehalfof":               "onBehalfOf",
	"userid":                   "userId",
	"identitystorearn":         "identityStoreArn",
	"sessioncontext":           "sessionContext",
	"mfaauthenticated":         "mfaAuthenticated",
	"creationdate":             "creationDate",
	"sessionissuer":            "sessionIssuer",
	"ec2roledelivery":          "ec2RoleDelivery",
	"webidfederationdata":      "webIdFederationData",
	"federatedprovider":        "federatedProvider",
	"sourceidentity":           "sourceIdentity",
	"credentialid":             "credentialId",
	"tlsversion":               "tlsVersion",
	"ciphersuite":              "cipherSuite",
	"clientprovidedhostheader": "clientProvidedHostHeader",
}

// record turns one result row (column name to value, a missing name being
// SQL NULL) back into a CloudTrail record as JSON, in the shape
// CloudTrail delivers: camel-case keys, nested objects, booleans. A JSON
// text column that is not JSON is kept as a string, for the normaliser
// to warn about. JSON text is copied as it is; only the small struct
// columns are decoded, to give their fields CloudTrail's names.
func record(row map[string]*string) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(2048)
	b.WriteByte('{')
	n := 0
	for _, c := range columns {
		v := row[c.name]
		if v == nil {
			continue
		}
		key := topLevel[c.name]
		var val []byte
		switch {
		case structCols[c.name]:
			var x any
			d := json.NewDecoder(strings.NewReader(*v))
			d.UseNumber()
			if err := d.Decode(&x); err != nil || d.More() {
				val, _ = json.Marshal(*v)
				break
			}
			if x == nil {
				continue
			}
			val, _ = json.Marshal(rename(x, c.name == "resources"))
		case jsonText[c.name]:
			t := strings.TrimSpace(*v)
			if t == "null" {
				continue
			}
			if json.Valid([]byte(t)) {
				val = []byte(t)
			} else {
				val, _ = json.Marshal(*v)
			}
		case c.name == "readonly" && (*v == "true" || *v == "false"):
			val = []byte(*v)
		default:
			val, _ = json.Marshal(*v)
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		b.WriteByte('"')
		b.WriteString(key)
		b.WriteString(`":`)
		b.Write(val)
	}
	if n == 0 {
		return nil, fmt.Errorf("every column is NULL")
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// rename gives the struct fields of v CloudTrail's spelling and drops
// NULL fields. In resources, arn is spelled ARN. The attributes map of
// web identity federation is left as it is: its keys are data.
func rename(v any, inResources bool) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			if val == nil {
				continue
			}
			name := k
			if n, ok := nested[k]; ok {
				name = n
			}
			if inResources && k == "arn" {
				name = "ARN"
			}
			if k == "webidfederationdata" {
				out[name] = val
				if m, ok := val.(map[string]any); ok {
					fed := map[string]any{}
					for fk, fv := range m {
						if fv == nil {
							continue
						}
						if fk == "federatedprovider" {
							fed["federatedProvider"] = fv
						} else {
							fed[fk] = fv
						}
					}
					out[name] = fed
				}
				continue
			}
			out[name] = rename(val, inResources)
		}
		return out
	case []any:
		for i := range x {
			x[i] = rename(x[i], inResources)
		}
		return x
	}
	return v
}
