-- rule: aws-registry-token-for-user-key
-- status: exact
SELECT eventid AS event_id, eventtime AS event_time
FROM cloudtrail_logs
WHERE "timestamp" BETWEEN '2026/03/01' AND '2026/03/02'
  AND eventtime >= '2026-03-01T00:00:00Z'
  AND eventtime < '2026-03-01T01:00:00Z'
  AND eventsource IN ('ecr.amazonaws.com', 'codeartifact.amazonaws.com')
  AND eventname = 'GetAuthorizationToken'
  AND useridentity.type IN ('IAMUser', 'Root')
  AND NULLIF(useridentity.accesskeyid, '') LIKE 'AKIA%' ESCAPE '\'
  AND NOT (COALESCE((errorcode <> '' OR (eventname = 'ConsoleLogin' AND (errormessage <> '' OR json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'))), FALSE))
  AND NOT (COALESCE((useridentity.type = 'AWSService' OR sourceipaddress = 'AWS Internal' OR sourceipaddress LIKE '%.amazonaws.com' OR strpos(useridentity.arn, ':role/aws-service-role/') > 0 OR strpos(useridentity.arn, ':assumed-role/AWSServiceRoleFor') > 0 OR useridentity.invokedby <> ''), FALSE) OR COALESCE((sourceipaddress = 'cloudformation.amazonaws.com' OR regexp_like(lower(NULLIF(CASE WHEN strpos(useridentity.arn, ':assumed-role/') > 0 THEN regexp_extract(useridentity.arn, ':assumed-role/([^/]*)', 1) WHEN strpos(useridentity.arn, ':user/') > 0 THEN regexp_extract(useridentity.arn, ':user/(?:.*/)?([^/]*)$', 1) WHEN useridentity.type IN ('IAMUser', 'AssumedRole') THEN regexp_extract(CASE WHEN useridentity.type = 'AssumedRole' AND useridentity.sessioncontext.sessionissuer.username <> '' THEN useridentity.sessioncontext.sessionissuer.username WHEN useridentity.username <> '' THEN useridentity.username WHEN strpos(useridentity.arn, '/') > 0 THEN regexp_extract(useridentity.arn, '[^/]*$') WHEN useridentity.arn <> '' THEN useridentity.arn ELSE COALESCE(useridentity.principalid, '') END, '^[^/]*') END, '')), '^(?:[\s\S]*terraform[\s\S]*|[\s\S]*cloudformation[\s\S]*|cdk-[\s\S]*|[\s\S]*deploy[\s\S]*|[\s\S]*pipeline[\s\S]*|[\s\S]*github-actions[\s\S]*|[\s\S]*githubactions[\s\S]*|[\s\S]*gitlab[\s\S]*|[\s\S]*atlantis[\s\S]*|[\s\S]*spacelift[\s\S]*|[\s\S]*codebuild[\s\S]*|[\s\S]*jenkins[\s\S]*|[\s\S]*pulumi[\s\S]*)$')), FALSE) OR COALESCE((strpos(lower(useragent), 'terraform') > 0 OR strpos(lower(useragent), 'pulumi') > 0 OR strpos(lower(useragent), 'aws-cdk') > 0 OR strpos(lower(useragent), 'cloudformation') > 0), FALSE))
