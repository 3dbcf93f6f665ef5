-- rule: aws-s3-bucket-policy-change
-- status: coarse
-- coarse: requestParameters may hold an array or object
-- coarse: requestParameters.AccessControlPolicy.AccessControlList.Grant.Grantee.URI may hold an array or object
-- coarse: requestParameters.BucketLoggingStatus may hold an array or object
-- coarse: requestParameters.BucketLoggingStatus.LoggingEnabled may hold an array or object
-- coarse: requestParameters.LifecycleConfiguration.Rule may hold an array or object
-- coarse: requestParameters.ObjectLockConfiguration may hold an array or object
-- coarse: requestParameters.ObjectLockConfiguration.Rule may hold an array or object
-- coarse: requestParameters.PutAccessPointPolicyRequest.Policy may hold an array or object
-- coarse: requestParameters.PutAccessPointPolicyRequest.Policy: policy
-- coarse: requestParameters.ReplicationConfiguration.Rule.Destination.AccessControlTranslation.Owner may hold an array or object
-- coarse: requestParameters.ReplicationConfiguration.Rule.Destination.Account may hold an array or object
-- coarse: requestParameters.ReplicationConfiguration.Rule.Destination.Account: foreign_account
-- coarse: requestParameters.accessPolicies may hold an array or object
-- coarse: requestParameters.accessPolicies: policy
-- coarse: requestParameters.accountIdsToAdd may hold an array or object
-- coarse: requestParameters.accountIdsToAdd: foreign_account
-- coarse: requestParameters.accountWithRestoreAccess may hold an array or object
-- coarse: requestParameters.accountWithRestoreAccess: foreign_account
-- coarse: requestParameters.allowExternalPrincipals may hold an array or object
-- coarse: requestParameters.assumeRolePolicyDocument may hold an array or object
-- coarse: requestParameters.assumeRolePolicyDocument: policy
-- coarse: requestParameters.attributeName may hold an array or object
-- coarse: requestParameters.attributeValue may hold an array or object
-- coarse: requestParameters.attributeValue: policy
-- coarse: requestParameters.attributes may hold an array or object
-- coarse: requestParameters.attributes.Policy may hold an array or object
-- coarse: requestParameters.attributes.Policy: policy
-- coarse: requestParameters.backupPlan.rules.copyActions.destinationBackupVaultArn may hold an array or object
-- coarse: requestParameters.backupPlan.rules.copyActions.destinationBackupVaultArn: foreign_account
-- coarse: requestParameters.bucketPolicy may hold an array or object
-- coarse: requestParameters.bucketPolicy: policy
-- coarse: requestParameters.condition may hold an array or object
-- coarse: requestParameters.consumerIdentifier may hold an array or object
-- coarse: requestParameters.consumerIdentifier: foreign_account
-- coarse: requestParameters.createRestApiInput.policy may hold an array or object
-- coarse: requestParameters.createRestApiInput.policy: policy
-- coarse: requestParameters.createVolumePermission.add.items.group may hold an array or object
-- coarse: requestParameters.createVolumePermission.add.items.userId may hold an array or object
-- coarse: requestParameters.createVolumePermission.add.items.userId: foreign_account
-- coarse: requestParameters.destinationArn may hold an array or object
-- coarse: requestParameters.destinationArn: foreign_account
-- coarse: requestParameters.destinationBackupVaultArn may hold an array or object
-- coarse: requestParameters.destinationBackupVaultArn: foreign_account
-- coarse: requestParameters.eC2SecurityGroupOwnerId may hold an array or object
-- coarse: requestParameters.eC2SecurityGroupOwnerId: foreign_account
-- coarse: requestParameters.granteePrincipal may hold an array or object
-- coarse: requestParameters.granteePrincipal: foreign_account
-- coarse: requestParameters.launchPermission.add.items.group may hold an array or object
-- coarse: requestParameters.launchPermission.add.items.userId may hold an array or object
-- coarse: requestParameters.launchPermission.add.items.userId: foreign_account
-- coarse: requestParameters.loadBalancerAttributes.accessLog.enabled may hold an array or object
-- coarse: requestParameters.operationType may hold an array or object
-- coarse: requestParameters.organizationId may hold an array or object
-- coarse: requestParameters.patch.patchOperations.value may hold an array or object
-- coarse: requestParameters.patch.patchOperations.value: policy
-- coarse: requestParameters.patchOperations.value may hold an array or object
-- coarse: requestParameters.patchOperations.value: policy
-- coarse: requestParameters.peerOwnerId may hold an array or object
-- coarse: requestParameters.peerOwnerId: foreign_account
-- coarse: requestParameters.policy may hold an array or object
-- coarse: requestParameters.policy.policy may hold an array or object
-- coarse: requestParameters.policy.policy: policy
-- coarse: requestParameters.policy: policy
-- coarse: requestParameters.policyDocument may hold an array or object
-- coarse: requestParameters.policyDocument: policy
-- coarse: requestParameters.policyInJson may hold an array or object
-- coarse: requestParameters.policyInJson: policy
-- coarse: requestParameters.policyText may hold an array or object
-- coarse: requestParameters.policyText: policy
-- coarse: requestParameters.principal may hold an array or object
-- coarse: requestParameters.principal: foreign_account
-- coarse: requestParameters.principals may hold an array or object
-- coarse: requestParameters.principals: foreign_account
-- coarse: requestParameters.projectVisibility may hold an array or object
-- coarse: requestParameters.resourcePolicy may hold an array or object
-- coarse: requestParameters.resourcePolicy: policy
-- coarse: requestParameters.s3BucketOwner may hold an array or object
-- coarse: requestParameters.s3BucketOwner: foreign_account
-- coarse: requestParameters.userGroup may hold an array or object
-- coarse: requestParameters.userId may hold an array or object
-- coarse: requestParameters.userId: foreign_account
-- coarse: requestParameters.vPCOptions.subnetIds may hold an array or object
-- coarse: requestParameters.valuesToAdd may hold an array or object
-- coarse: requestParameters.valuesToAdd: foreign_account
-- coarse: requestParameters.vpcOptions.subnetIds may hold an array or object
-- coarse: requestParameters.x-amz-acl may hold an array or object
-- coarse: requestParameters.x-amz-grant-full-control may hold an array or object
-- coarse: requestParameters.x-amz-grant-read may hold an array or object
-- coarse: requestParameters.x-amz-grant-read-acp may hold an array or object
-- coarse: requestParameters.x-amz-grant-write may hold an array or object
-- coarse: requestParameters.x-amz-grant-write-acp may hold an array or object
-- coarse: requestParameters: foreign_account
-- coarse: superseded_by aws-access-logging-disabled is not exact
-- coarse: superseded_by aws-data-copied-to-another-account is not exact
-- coarse: superseded_by aws-resource-made-public is not exact
-- coarse: superseded_by aws-resource-shared-with-account is not exact
-- coarse: superseded_by aws-s3-data-protection-removed is not exact
SELECT eventid AS event_id, eventtime AS event_time
FROM cloudtrail_logs
WHERE "timestamp" BETWEEN '2026/03/01' AND '2026/03/02'
  AND eventtime >= '2026-03-01T00:00:00Z'
  AND eventtime < '2026-03-01T01:00:00Z'
  AND eventsource = 's3.amazonaws.com'
  AND eventname IN ('PutBucketAcl', 'PutBucketPolicy', 'PutBucketCors', 'PutBucketLifecycle', 'PutBucketReplication', 'DeleteBucketPolicy', 'DeleteBucketCors', 'DeleteBucketLifecycle', 'DeleteBucketReplication')
  AND NOT (COALESCE((errorcode <> '' OR (eventname = 'ConsoleLogin' AND (errormessage <> '' OR json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'))), FALSE))
  AND NOT (COALESCE((sourceipaddress = 'cloudformation.amazonaws.com' OR regexp_like(lower(NULLIF(CASE WHEN strpos(useridentity.arn, ':assumed-role/') > 0 THEN regexp_extract(useridentity.arn, ':assumed-role/([^/]*)', 1) WHEN strpos(useridentity.arn, ':user/') > 0 THEN regexp_extract(useridentity.arn, ':user/(?:.*/)?([^/]*)$', 1) WHEN useridentity.type IN ('IAMUser', 'AssumedRole') THEN regexp_extract(CASE WHEN useridentity.type = 'AssumedRole' AND useridentity.sessioncontext.sessionissuer.username <> '' THEN useridentity.sessioncontext.sessionissuer.username WHEN useridentity.username <> '' THEN useridentity.username WHEN strpos(useridentity.arn, '/') > 0 THEN regexp_extract(useridentity.arn, '[^/]*$') WHEN useridentity.arn <> '' THEN useridentity.arn ELSE COALESCE(useridentity.principalid, '') END, '^[^/]*') END, '')), '^(?:[\s\S]*terraform[\s\S]*|[\s\S]*cloudformation[\s\S]*|cdk-[\s\S]*|[\s\S]*deploy[\s\S]*|[\s\S]*pipeline[\s\S]*|[\s\S]*github-actions[\s\S]*|[\s\S]*githubactions[\s\S]*|[\s\S]*gitlab[\s\S]*|[\s\S]*atlantis[\s\S]*|[\s\S]*spacelift[\s\S]*|[\s\S]*codebuild[\s\S]*|[\s\S]*jenkins[\s\S]*|[\s\S]*pulumi[\s\S]*)$')), FALSE))
  AND NOT (COALESCE((useridentity.type = 'AWSService' OR sourceipaddress = 'AWS Internal' OR sourceipaddress LIKE '%.amazonaws.com' OR strpos(useridentity.arn, ':role/aws-service-role/') > 0 OR strpos(useridentity.arn, ':assumed-role/AWSServiceRoleFor') > 0 OR useridentity.invokedby <> ''), FALSE))
  AND NOT (NOT (COALESCE((errorcode <> '' OR (eventname = 'ConsoleLogin' AND (errormessage <> '' OR json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'))), FALSE)) AND ((COALESCE(eventsource = 's3.amazonaws.com', FALSE) AND COALESCE(eventname IN ('PutBucketAcl', 'PutObjectAcl', 'CreateBucket', 'PutObject', 'CopyObject'), FALSE) AND (COALESCE((json_extract_scalar(requestparameters, '$.AccessControlPolicy.AccessControlList.Grant.Grantee.URI') LIKE '%/global/AllUsers' ESCAPE '\' OR json_extract_scalar(requestparameters, '$.AccessControlPolicy.AccessControlList.Grant.Grantee.URI') LIKE '%/global/AuthenticatedUsers' ESCAPE '\'), FALSE) OR COALESCE(json_extract_scalar(requestparameters, '$["x-amz-acl"]') IN ('public-read', 'public-read-write', 'authenticated-read'), FALSE) OR COALESCE((json_extract_scalar(requestparameters, '$["x-amz-grant-read"]') LIKE '%/global/AllUsers%' ESCAPE '\' OR json_extract_scalar(requestparameters, '$["x-amz-grant-read"]') LIKE '%/global/AuthenticatedUsers%' ESCAPE '\'), FALSE) OR COALESCE((json_extract_scalar(requestparameters, '$["x-amz-grant-write"]') LIKE '%/global/AllUsers%' ESCAPE '\' OR json_extract_scalar(requestparameters, '$["x-amz-grant-write"]') LIKE '%/global/AuthenticatedUsers%' ESCAPE '\'), FALSE) OR COALESCE((json_extract_scalar(requestparameters, '$["x-amz-grant-read-acp"]') LIKE '%/global/AllUsers%' ESCAPE '\' OR json_extract_scalar(requestparameters, '$["x-amz-grant-read-acp"]') LIKE '%/global/AuthenticatedUsers%' ESCAPE '\'), FALSE) OR COALESCE((json_extract_scalar(requestparameters, '$["x-amz-grant-write-acp"]') LIKE '%/global/AllUsers%' ESCAPE '\' OR json_extract_scalar(requestparameters, '$["x-amz-grant-write-acp"]') LIKE '%/global/AuthenticatedUsers%' ESCAPE '\'), FALSE) OR COALESCE((json_extract_scalar(requestparameters, '$["x-amz-grant-full-control"]') LIKE '%/global/AllUsers%' ESCAPE '\' OR json_extract_scalar(requestparameters, '$["x-amz-grant-full-control"]') LIKE '%/global/AuthenticatedUsers%' ESCAPE '\'), FALSE))) OR (COALESCE(eventsource = 'codebuild.amazonaws.com', FALSE) AND COALESCE(eventname = 'UpdateProjectVisibility', FALSE) AND COALESCE(json_extract_scalar(requestparameters, '$.projectVisibility') = 'PUBLIC_READ', FALSE)) OR (COALESCE(eventsource = 'lambda.amazonaws.com', FALSE) AND COALESCE(eventname IN ('AddLayerVersionPermission', 'AddLayerVersionPermission20181031'), FALSE) AND COALESCE(json_extract_scalar(requestparameters, '$.principal') = '*', FALSE) AND NOT (json_extract_scalar(requestparameters, '$.organizationId') IS NOT NULL) AND NOT (COALESCE((json_extract(requestparameters, '$.organizationId') IS NOT NULL AND json_extract_scalar(requestparameters, '$.organizationId') IS NULL), FALSE))) OR (COALESCE(eventsource = 'events.amazonaws.com', FALSE) AND COALESCE(eventname = 'PutPermission', FALSE) AND COALESCE(json_extract_scalar(requestparameters, '$.principal') = '*', FALSE) AND NOT (json_extract_scalar(requestparameters, '$.condition') IS NOT NULL) AND NOT (COALESCE((json_extract(requestparameters, '$.condition') IS NOT NULL AND json_extract_scalar(requestparameters, '$.condition') IS NULL), FALSE))) OR (COALESCE(eventsource = 'ssm.amazonaws.com', FALSE) AND COALESCE(eventname = 'ModifyDocumentPermission', FALSE) AND COALESCE(lower(json_extract_scalar(requestparameters, '$.accountIdsToAdd')) = 'all', FALSE)) OR (COALESCE(eventsource = 'ec2.amazonaws.com', FALSE) AND ((COALESCE(eventname = 'ModifySnapshotAttribute', FALSE) AND COALESCE(json_extract_scalar(requestparameters, '$.createVolumePermission.add.items.group') = 'all', FALSE)) OR (COALESCE(eventname = 'ModifyImageAttribute', FALSE) AND COALESCE(json_extract_scalar(requestparameters, '$.launchPermission.add.items.group') = 'all', FALSE)) OR (COALESCE(eventname IN ('ModifySnapshotAttribute', 'ModifyImageAttribute'), FALSE) AND COALESCE(json_extract_scalar(requestparameters, '$.operationType') = 'add', FALSE) AND COALESCE(json_extract_scalar(requestparameters, '$.userGroup') = 'all', FALSE)))) OR (COALESCE(eventsource = 'rds.amazonaws.com', FALSE) AND COALESCE(eventname IN ('ModifyDBSnapshotAttribute', 'ModifyDBClusterSnapshotAttribute'), FALSE) AND COALESCE(json_extract_scalar(requestparameters, '$.attributeName') = 'restore', FALSE) AND COALESCE(lower(json_extract_scalar(requestparameters, '$.valuesToAdd')) = 'all', FALSE))))
  AND NOT (NOT (COALESCE((errorcode <> '' OR (eventname = 'ConsoleLogin' AND (errormessage <> '' OR json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'))), FALSE)) AND NOT (COALESCE((useridentity.type = 'AWSService' OR sourceipaddress = 'AWS Internal' OR sourceipaddress LIKE '%.amazonaws.com' OR strpos(useridentity.arn, ':role/aws-service-role/') > 0 OR strpos(useridentity.arn, ':assumed-role/AWSServiceRoleFor') > 0 OR useridentity.invokedby <> ''), FALSE)) AND COALESCE(eventsource = 's3.amazonaws.com', FALSE) AND COALESCE(eventname = 'PutBucketReplication', FALSE) AND COALESCE(json_extract_scalar(requestparameters, '$.ReplicationConfiguration.Rule.Destination.AccessControlTranslation.Owner') = 'Destination', FALSE))
  AND NOT (COALESCE(eventsource = 's3.amazonaws.com', FALSE) AND NOT (COALESCE((errorcode <> '' OR (eventname = 'ConsoleLogin' AND (errormessage <> '' OR json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'))), FALSE)) AND NOT (COALESCE((useridentity.type = 'AWSService' OR sourceipaddress = 'AWS Internal' OR sourceipaddress LIKE '%.amazonaws.com' OR strpos(useridentity.arn, ':role/aws-service-role/') > 0 OR strpos(useridentity.arn, ':assumed-role/AWSServiceRoleFor') > 0 OR useridentity.invokedby <> ''), FALSE)) AND ((COALESCE(eventname = 'PutBucketVersioning', FALSE) AND COALESCE(regexp_like(CASE WHEN requestparameters IS NOT NULL AND requestparameters <> 'null' THEN '' END, '(?i)"Status":"Suspended"|"MfaDelete":"Disabled"'), FALSE)) OR (COALESCE(eventname IN ('PutBucketLifecycle', 'PutBucketLifecycleConfiguration'), FALSE) AND json_extract_scalar(requestparameters, '$.LifecycleConfiguration.Rule') IS NOT NULL AND COALESCE(regexp_like(json_extract_scalar(requestparameters, '$.LifecycleConfiguration.Rule'), '"(Expiration|NoncurrentVersionExpiration)":\{[^{}]*("(Days|NoncurrentDays)":"?[0-7]"?[,}]|"Date":)'), FALSE) AND NOT (COALESCE(regexp_like(json_extract_scalar(requestparameters, '$.LifecycleConfiguration.Rule'), '"Prefix":"[^"*/]|"Tag"|"And"|"ObjectSize|"Status":"Disabled"'), FALSE))) OR (COALESCE(eventname = 'PutObjectLockConfiguration', FALSE) AND json_extract_scalar(requestparameters, '$.ObjectLockConfiguration') IS NOT NULL AND NOT (json_extract_scalar(requestparameters, '$.ObjectLockConfiguration.Rule') IS NOT NULL) AND NOT (COALESCE(json_array_length(json_extract(requestparameters, '$.ObjectLockConfiguration')) IS NOT NULL OR (json_extract(requestparameters, '$.ObjectLockConfiguration.Rule') IS NOT NULL AND json_extract_scalar(requestparameters, '$.ObjectLockConfiguration.Rule') IS NULL), FALSE))) OR (COALESCE(eventname IN ('DeleteObject', 'DeleteObjects', 'PutObjectRetention', 'DeleteObjectVersion'), FALSE) AND COALESCE(regexp_like(CASE WHEN requestparameters IS NOT NULL AND requestparameters <> 'null' THEN '' END, '(?i)"x-amz-bypass-governance-retention":"?true'), FALSE))))
  AND NOT (NOT (COALESCE((errorcode <> '' OR (eventname = 'ConsoleLogin' AND (errormessage <> '' OR json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'))), FALSE)) AND NOT (COALESCE((useridentity.type = 'AWSService' OR sourceipaddress = 'AWS Internal' OR sourceipaddress LIKE '%.amazonaws.com' OR strpos(useridentity.arn, ':role/aws-service-role/') > 0 OR strpos(useridentity.arn, ':assumed-role/AWSServiceRoleFor') > 0 OR useridentity.invokedby <> ''), FALSE)) AND ((COALESCE(eventsource = 'ec2.amazonaws.com', FALSE) AND COALESCE(eventname = 'DeleteFlowLogs', FALSE)) OR (COALESCE(eventsource = 'route53resolver.amazonaws.com', FALSE) AND COALESCE(eventname IN ('DeleteResolverQueryLogConfig', 'DisassociateResolverQueryLogConfig'), FALSE)) OR (COALESCE(eventsource = 'route53.amazonaws.com', FALSE) AND COALESCE(eventname = 'DeleteQueryLoggingConfig', FALSE)) OR (COALESCE(eventsource IN ('waf.amazonaws.com', 'waf-regional.amazonaws.com', 'wafv2.amazonaws.com'), FALSE) AND COALESCE(eventname = 'DeleteLoggingConfiguration', FALSE)) OR (COALESCE(eventsource = 's3.amazonaws.com', FALSE) AND COALESCE(eventname = 'PutBucketLogging', FALSE) AND json_extract_scalar(requestparameters, '$.BucketLoggingStatus') IS NOT NULL AND NOT (json_extract_scalar(requestparameters, '$.BucketLoggingStatus.LoggingEnabled') IS NOT NULL) AND NOT (COALESCE(json_array_length(json_extract(requestparameters, '$.BucketLoggingStatus')) IS NOT NULL OR (json_extract(requestparameters, '$.BucketLoggingStatus.LoggingEnabled') IS NOT NULL AND json_extract_scalar(requestparameters, '$.BucketLoggingStatus.LoggingEnabled') IS NULL), FALSE))) OR (COALESCE(eventsource = 'elasticloadbalancing.amazonaws.com', FALSE) AND COALESCE(eventname = 'ModifyLoadBalancerAttributes', FALSE) AND (COALESCE(regexp_like(json_extract_scalar(requestparameters, '$.attributes'), '"key":"(access_logs|connection_logs)\.s3\.enabled","value":"false"'), FALSE) OR COALESCE(json_extract_scalar(requestparameters, '$.loadBalancerAttributes.accessLog.enabled') = 'false', FALSE)))))
