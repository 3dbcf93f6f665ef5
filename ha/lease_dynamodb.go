package ha

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoDBLease is a lease held in one item of a DynamoDB table whose
// partition key is the string attribute "pk". The item holds the holder,
// the epoch and the expiry (Unix milliseconds); every write is
// conditional, so two replicas never both succeed.
type DynamoDBLease struct {
	// Client is the DynamoDB client the lease is written with.
	Client *dynamodb.Client
	// Table is the table's name.
	Table string
	// Name is the item's key: several deployments can share a table.
	Name string
}

func (l *DynamoDBLease) key() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: l.Name}}
}

func ms(t time.Time) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.UnixMilli(), 10)}
}

func num(n uint64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatUint(n, 10)}
}

// Current implements Lease: it reads the lease item; ok is false when there is none.
func (l *DynamoDBLease) Current(ctx context.Context) (g Grant, ok bool, err error) {
	out, err := l.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: &l.Table, Key: l.key(), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return g, false, fmt.Errorf("lease: read dynamodb://%s/%s: %w", l.Table, l.Name, err)
	}
	if out.Item == nil {
		return g, false, nil
	}
	if v, ok := out.Item["holder"].(*types.AttributeValueMemberS); ok {
		g.Holder = v.Value
	}
	if v, ok := out.Item["epoch"].(*types.AttributeValueMemberN); ok {
		g.Epoch, _ = strconv.ParseUint(v.Value, 10, 64)
	}
	if v, ok := out.Item["expires"].(*types.AttributeValueMemberN); ok {
		n, _ := strconv.ParseInt(v.Value, 10, 64)
		g.Expires = time.UnixMilli(n)
	}
	return g, true, nil
}

// Acquire implements Lease: it writes the item only if there is none, or
// if it has expired and still has the epoch just read.
func (l *DynamoDBLease) Acquire(ctx context.Context, holder string, now time.Time, ttl time.Duration) (Grant, error) {
	cur, exists, err := l.Current(ctx)
	if err != nil {
		return Grant{}, err
	}
	if exists && !cur.Expires.Before(now) {
		return Grant{}, &HeldError{cur}
	}
	g := Grant{Holder: holder, Epoch: cur.Epoch + 1, Expires: now.Add(ttl)}
	_, err = l.Client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &l.Table,
		Item: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: l.Name}, "holder": &types.AttributeValueMemberS{Value: holder},
			"epoch": num(g.Epoch), "expires": ms(g.Expires),
		},
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR (expires < :now AND epoch = :epoch)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": ms(now), ":epoch": num(cur.Epoch)},
	})
	if isConditionFailed(err) {
		cur, _, _ := l.Current(ctx)
		return Grant{}, &HeldError{cur}
	}
	if err != nil {
		return Grant{}, fmt.Errorf("lease: take dynamodb://%s/%s: %w", l.Table, l.Name, err)
	}
	return g, nil
}

// Renew implements Lease: the expiry moves only while the item still
// names this holder and epoch, and was not released: a renewal sent
// before a release that arrives after it must not take the lease back
// from the standby.
func (l *DynamoDBLease) Renew(ctx context.Context, g Grant, now time.Time, ttl time.Duration) (Grant, error) {
	next := g
	next.Expires = now.Add(ttl)
	if err := l.setExpires(ctx, g, next.Expires); err != nil {
		return g, err
	}
	return next, nil
}

// Release implements Lease.
func (l *DynamoDBLease) Release(ctx context.Context, g Grant) error {
	return l.setExpires(ctx, g, time.UnixMilli(0))
}

func (l *DynamoDBLease) setExpires(ctx context.Context, g Grant, exp time.Time) error {
	_, err := l.Client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        &l.Table,
		Key:              l.key(),
		UpdateExpression: aws.String("SET expires = :exp"),
		// A released lease (expires 0) stays released.
		ConditionExpression: aws.String("holder = :me AND epoch = :epoch AND expires <> :released"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":exp": ms(exp), ":me": &types.AttributeValueMemberS{Value: g.Holder}, ":epoch": num(g.Epoch),
			":released": ms(time.UnixMilli(0)),
		},
	})
	if isConditionFailed(err) {
		return ErrLost
	}
	if err != nil {
		return fmt.Errorf("lease: renew dynamodb://%s/%s: %w", l.Table, l.Name, err)
	}
	return nil
}

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}
