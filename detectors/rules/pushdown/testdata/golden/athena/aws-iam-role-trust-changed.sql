-- rule: aws-iam-role-trust-changed
-- status: coarse
-- coarse: requestParameters may hold an array or object
-- coarse: requestParameters.AccessControlPolicy.AccessControlList.Grant.Grantee.URI may hold an array or object
-- coarse: requestParameters.PutAccessPointPolicyRequest.Policy may hold an array or object
-- coarse: requestParameters.PutAccessPointPolicyRequest.Policy: policy
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
-- coarse: requestParameters.attributes.Policy may hold an array or object
-- coarse: requestParameters.attributes.Policy: policy
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
-- coarse: requestParameters.eC2SecurityGroupOwnerId may hold an array or object
-- coarse: requestParameters.eC2SecurityGroupOwnerId: foreign_account
-- coarse: requestParameters.granteePrincipal may hold an array or object
-- coarse: requestParameters.granteePrincipal: foreign_account
-- coarse: requestParameters.launchPermission.add.items.group may hold an array or object
-- coarse: requestParameters.launchPermission.add.items.userId may hold an array or object
-- coarse: requestParameters.launchPermission.add.items.userId: foreign_account
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
-- coarse: superseded_by aws-resource-made-public is not exact
-- coarse: superseded_by aws-resource-shared-with-account is not exact
SELECT eventid AS event_id, eventtime AS event_time
FROM cloudtrail_logs
WHERE "timestamp" BETWEEN '2026/03/01' AND '2026/03/02'
  AND eventtime >= '2026-03-01T00:00:00Z'
  AND eventtime < '2026-03-01T01:00:00Z'
  AND eventsource = 'iam.amazonaws.com'
  AND eventname = 'UpdateAssumeRolePolicy'
  AND NOT (COALESCE((errorcode <> '' OR (eventname = 'ConsoleLogin' AND (errormessage <> '' OR json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'))), FALSE))
  AND NOT (COALESCE((useridentity.type = 'AWSService' OR sourceipaddress = 'AWS Internal' OR sourceipaddress LIKE '%.amazonaws.com' OR strpos(useridentity.arn, ':role/aws-service-role/') > 0 OR strpos(useridentity.arn, ':assumed-role/AWSServiceRoleFor') > 0 OR useridentity.invokedby <> ''), FALSE))
  AND NOT (COALESCE((sourceipaddress = 'cloudformation.amazonaws.com' OR regexp_like(lower(NULLIF(CASE WHEN strpos(useridentity.arn, ':assumed-role/') > 0 THEN regexp_extract(useridentity.arn, ':assumed-role/([^/]*)', 1) WHEN strpos(useridentity.arn, ':user/') > 0 THEN regexp_extract(useridentity.arn, ':user/(?:.*/)?([^/]*)$', 1) WHEN useridentity.type IN ('IAMUser', 'AssumedRole') THEN regexp_extract(CASE WHEN useridentity.type = 'AssumedRole' AND useridentity.sessioncontext.sessionissuer.username <> '' THEN useridentity.sessioncontext.sessionissuer.username WHEN useridentity.username <> '' THEN useridentity.username WHEN strpos(useridentity.arn, '/') > 0 THEN regexp_extract(useridentity.arn, '[^/]*$') WHEN useridentity.arn <> '' THEN useridentity.arn ELSE COALESCE(useridentity.principalid, '') END, '^[^/]*') END, '')), '^(?:[\s\S]*terraform[\s\S]*|[\s\S]*cloudformation[\s\S]*|cdk-[\s\S]*|[\s\S]*deploy[\s\S]*|[\s\S]*pipeline[\s\S]*|[\s\S]*github-actions[\s\S]*|[\s\S]*githubactions[\s\S]*|[\s\S]*gitlab[\s\S]*|[\s\S]*atlantis[\s\S]*|[\s\S]*spacelift[\s\S]*|[\s\S]*codebuild[\s\S]*|[\s\S]*jenkins[\s\S]*|[\s\S]*pulumi[\s\S]*)$')), FALSE))
  AND NOT (NOT (COALESCE((errorcode <> '' OR (eventname = 'ConsoleLogin' AND (errormessage <> '' OR json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'))), FALSE)) AND ((COALESCE(eventsource = 's3.amazonaws.com', FALSE) AND COALESCE(eventname IN ('PutBucketAcl', 'PutObjectAcl', 'CreateBucket', 'PutObject', 'CopyObject'), FALSE) AND (COALESCE((json_extract_scalar(requestparameters, '$.AccessControlPolicy.AccessControlList.Grant.Grantee.URI') LIKE '%/global/AllUsers' ESCAPE '\' OR json_extract_scalar(requestparameters, '$.AccessControlPolicy.AccessControlList.Grant.Grantee.URI') LIKE '%/global/AuthenticatedUsers' ESCAPE '\'), FALSE) OR COALESCE(json_extract_scalar(requestparameters, '$["x-amz-acl"]') IN ('public-read', 'public-read-write', 'authenticated-read'), FALSE) OR COALESCE((json_extract_scalar(requestparameters, '$["x-amz-grant-read"]') LIKE '%/global/AllUsers%' ESCAPE '\' OR json_extract_scalar(requestparameters, '$["x-amz-grant-read"]') LIKE '%/global/AuthenticatedUsers%' ESCAPE '\'), FALSE) OR COALESCE((json_extract_scalar(requestparameters, '$["x-amz-grant-write"]') LIKE '%/global/AllUsers%' ESCAPE '\' OR json_extract_scalar(requestparameters, '$["x-amz-grant-write"]') LIKE '%/global/AuthenticatedUsers%' ESCAPE '\'), FALSE) OR COALESCE((json_extract_scalar(requestparameters, '$["x-amz-grant-read-acp"]') LIKE '%/global/AllUsers%' ESCAPE '\' OR json_extract_scalar(requestparameters, '$["x-amz-grant-read-acp"]') LIKE '%/global/AuthenticatedUsers%' ESCAPE '\'), FALSE) OR COALESCE((json_extract_scalar(requestparameters, '$["x-amz-grant-write-acp"]') LIKE '%/global/AllUsers%' ESCAPE '\' OR json_extract_scalar(requestparameters, '$["x-amz-grant-write-acp"]') LIKE '%/global/AuthenticatedUsers%' ESCAPE '\'), FALSE) OR COALESCE((json_extract_scalar(requestparameters, '$["x-amz-grant-full-control"]') LIKE '%/global/AllUsers%' ESCAPE '\' OR json_extract_scalar(requestparameters, '$["x-amz-grant-full-control"]') LIKE '%/global/AuthenticatedUsers%' ESCAPE '\'), FALSE))) OR (COALESCE(eventsource = 'codebuild.amazonaws.com', FALSE) AND COALESCE(eventname = 'UpdateProjectVisibility', FALSE) AND COALESCE(json_extract_scalar(requestparameters, '$.projectVisibility') = 'PUBLIC_READ', FALSE)) OR (COALESCE(eventsource = 'lambda.amazonaws.com', FALSE) AND COALESCE(eventname IN ('AddLayerVersionPermission', 'AddLayerVersionPermission20181031'), FALSE) AND COALESCE(json_extract_scalar(requestparameters, '$.principal') = '*', FALSE) AND NOT (json_extract_scalar(requestparameters, '$.organizationId') IS NOT NULL) AND NOT (COALESCE((json_extract(requestparameters, '$.organizationId') IS NOT NULL AND json_extract_scalar(requestparameters, '$.organizationId') IS NULL), FALSE))) OR (COALESCE(eventsource = 'events.amazonaws.com', FALSE) AND COALESCE(eventname = 'PutPermission', FALSE) AND COALESCE(json_extract_scalar(requestparameters, '$.principal') = '*', FALSE) AND NOT (json_extract_scalar(requestparameters, '$.condition') IS NOT NULL) AND NOT (COALESCE((json_extract(requestparameters, '$.condition') IS NOT NULL AND json_extract_scalar(requestparameters, '$.condition') IS NULL), FALSE))) OR (COALESCE(eventsource = 'ssm.amazonaws.com', FALSE) AND COALESCE(eventname = 'ModifyDocumentPermission', FALSE) AND COALESCE(lower(json_extract_scalar(requestparameters, '$.accountIdsToAdd')) = 'all', FALSE)) OR (COALESCE(eventsource = 'ec2.amazonaws.com', FALSE) AND ((COALESCE(eventname = 'ModifySnapshotAttribute', FALSE) AND COALESCE(json_extract_scalar(requestparameters, '$.createVolumePermission.add.items.group') = 'all', FALSE)) OR (COALESCE(eventname = 'ModifyImageAttribute', FALSE) AND COALESCE(json_extract_scalar(requestparameters, '$.launchPermission.add.items.group') = 'all', FALSE)) OR (COALESCE(eventname IN ('ModifySnapshotAttribute', 'ModifyImageAttribute'), FALSE) AND COALESCE(json_extract_scalar(requestparameters, '$.operationType') = 'add', FALSE) AND COALESCE(json_extract_scalar(requestparameters, '$.userGroup') = 'all', FALSE)))) OR (COALESCE(eventsource = 'rds.amazonaws.com', FALSE) AND COALESCE(eventname IN ('ModifyDBSnapshotAttribute', 'ModifyDBClusterSnapshotAttribute'), FALSE) AND COALESCE(json_extract_scalar(requestparameters, '$.attributeName') = 'restore', FALSE) AND COALESCE(lower(json_extract_scalar(requestparameters, '$.valuesToAdd')) = 'all', FALSE))))
