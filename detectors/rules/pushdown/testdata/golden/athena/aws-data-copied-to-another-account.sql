-- rule: aws-data-copied-to-another-account
-- status: coarse
-- coarse: requestParameters.ReplicationConfiguration.Rule.Destination.AccessControlTranslation.Owner may hold an array or object
-- coarse: requestParameters.ReplicationConfiguration.Rule.Destination.Account may hold an array or object
-- coarse: requestParameters.ReplicationConfiguration.Rule.Destination.Account: foreign_account
-- coarse: requestParameters.backupPlan.rules.copyActions.destinationBackupVaultArn may hold an array or object
-- coarse: requestParameters.backupPlan.rules.copyActions.destinationBackupVaultArn: foreign_account
-- coarse: requestParameters.destinationArn may hold an array or object
-- coarse: requestParameters.destinationArn: foreign_account
-- coarse: requestParameters.destinationBackupVaultArn may hold an array or object
-- coarse: requestParameters.destinationBackupVaultArn: foreign_account
-- coarse: requestParameters.s3BucketOwner may hold an array or object
-- coarse: requestParameters.s3BucketOwner: foreign_account
SELECT eventid AS event_id, eventtime AS event_time
FROM cloudtrail_logs
WHERE "timestamp" BETWEEN '2026/03/01' AND '2026/03/02'
  AND eventtime >= '2026-03-01T00:00:00Z'
  AND eventtime < '2026-03-01T01:00:00Z'
  AND NOT (COALESCE((errorcode <> '' OR (eventname = 'ConsoleLogin' AND (errormessage <> '' OR json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'))), FALSE))
  AND NOT (COALESCE((useridentity.type = 'AWSService' OR sourceipaddress = 'AWS Internal' OR sourceipaddress LIKE '%.amazonaws.com' OR strpos(useridentity.arn, ':role/aws-service-role/') > 0 OR strpos(useridentity.arn, ':assumed-role/AWSServiceRoleFor') > 0 OR useridentity.invokedby <> ''), FALSE))
  AND ((eventsource = 's3.amazonaws.com' AND eventname = 'PutBucketReplication') OR (eventsource = 'logs.amazonaws.com' AND eventname = 'PutSubscriptionFilter') OR (eventsource = 'backup.amazonaws.com' AND (eventname = 'StartCopyJob' OR eventname IN ('CreateBackupPlan', 'UpdateBackupPlan'))) OR (eventsource = 'dynamodb.amazonaws.com' AND eventname = 'ExportTableToPointInTime'))
