-- rule: aws-datastore-audit-logging-disabled
-- status: coarse
-- coarse: requestParameters.logDeliveryConfigurations.enabled may hold an array or object
-- coarse: requestParameters.logPublishingOptions may hold an array or object
SELECT eventid AS event_id, eventtime AS event_time
FROM cloudtrail_logs
WHERE "timestamp" BETWEEN '2026/03/01' AND '2026/03/02'
  AND eventtime >= '2026-03-01T00:00:00Z'
  AND eventtime < '2026-03-01T01:00:00Z'
  AND NOT (COALESCE((errorcode <> '' OR (eventname = 'ConsoleLogin' AND (errormessage <> '' OR json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'))), FALSE))
  AND NOT (COALESCE((useridentity.type = 'AWSService' OR sourceipaddress = 'AWS Internal' OR sourceipaddress LIKE '%.amazonaws.com' OR strpos(useridentity.arn, ':role/aws-service-role/') > 0 OR strpos(useridentity.arn, ':assumed-role/AWSServiceRoleFor') > 0 OR useridentity.invokedby <> ''), FALSE))
  AND ((eventsource = 'es.amazonaws.com' AND eventname IN ('UpdateDomainConfig', 'UpdateElasticsearchDomainConfig') AND (regexp_like(json_extract_scalar(requestparameters, '$.logPublishingOptions'), '"(AUDIT_LOGS|ES_APPLICATION_LOGS|SEARCH_SLOW_LOGS|INDEX_SLOW_LOGS)":\{[^{}]*"[eE]nabled":false') OR COALESCE((json_extract(requestparameters, '$.logPublishingOptions') IS NOT NULL AND json_extract_scalar(requestparameters, '$.logPublishingOptions') IS NULL), FALSE))) OR (eventsource = 'redshift.amazonaws.com' AND eventname = 'DisableLogging') OR (eventsource = 'elasticache.amazonaws.com' AND eventname IN ('ModifyReplicationGroup', 'ModifyCacheCluster') AND (json_extract_scalar(requestparameters, '$.logDeliveryConfigurations.enabled') = 'false' OR COALESCE(json_array_length(json_extract(requestparameters, '$.logDeliveryConfigurations')) IS NOT NULL OR (json_extract(requestparameters, '$.logDeliveryConfigurations.enabled') IS NOT NULL AND json_extract_scalar(requestparameters, '$.logDeliveryConfigurations.enabled') IS NULL), FALSE))))
