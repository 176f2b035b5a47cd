/** An IAM role or user, the two kinds of principal an EKS access entry can name. */
export interface IamPrincipal {
  readonly partition: string;
  readonly account: string;
  readonly kind: "role" | "user";
  /** The role or user name, without its path: unique per account and kind. */
  readonly name: string;
}

/** An example admin ARN for messages and docs. */
export const EXAMPLE_ADMIN_ARN = "arn:aws:iam::123456789012:role/vllm-auth-deploy";

const IAM_PRINCIPAL_ARN = /^arn:(aws|aws-cn|aws-us-gov):iam::(\d{12}):(role|user)\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]{1,64})$/;
const STS_SESSION_ARN = /^arn:(aws|aws-cn|aws-us-gov):sts::(\d{12}):assumed-role\/([\w+=,.@-]{1,64})\/[^/]+$/;

/** The role or user that `arn` names, or undefined for anything else (a session, a group, a typo). */
export function parseIamPrincipalArn(arn: string): IamPrincipal | undefined {
  const match = IAM_PRINCIPAL_ARN.exec(arn);
  if (!match) return undefined;
  const [, partition, account, kind, name] = match;
  return { partition, account, kind: kind as IamPrincipal["kind"], name };
}

/** Why `arn`, which is no role or user ARN, cannot name an admin; a session gets its role as the fix. */
function invalidAdminArn(arn: string): string {
  const session = STS_SESSION_ARN.exec(arn);
  if (session) {
    const [, partition, account, role] = session;
    return (
      `is an STS session, which an access entry cannot name. Write its role instead, ` +
      `e.g. arn:${partition}:iam::${account}:role/${role} (with the role's path, if it has one).`
    );
  }
  return `is not an IAM role or user ARN. Write arn:aws:iam::<12-digit account>:role/<name> or :user/<name>, e.g. ${EXAMPLE_ADMIN_ARN}.`;
}

/** Every reason `arns` cannot be a cluster's list of admins, one sentence each; empty when it can. */
export function adminArnsProblems(arns: readonly string[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const arn of arns) {
    const principal = parseIamPrincipalArn(arn);
    if (!principal) {
      problems.push(`"${arn}" ${invalidAdminArn(arn)}`);
      continue;
    }
    // IAM names are unique per account and kind; entries are named without the account.
    const key = `${principal.kind} ${principal.name}`;
    if (seen.has(key)) problems.push(`"${arn}" names ${key} a second time. List each admin once.`);
    seen.add(key);
  }
  return problems;
}
