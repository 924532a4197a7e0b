// The Models view: one root per checkpoint folder (workspace and "Open checkpoint folder…"),
// children from buildModelTree; summaries cached until the next refresh (files changed, rescan).
import * as vscode from 'vscode';
import { buildModelTree, errorNode, type TreeNode } from './model-tree';
import type { ModelSummary } from '../../sidecar/rpc/protocol';

export class ModelTreeProvider implements vscode.TreeDataProvider<TreeNode> {
  private readonly changed = new vscode.EventEmitter<TreeNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly summaries = new Map<string, Promise<TreeNode>>();
  /** Parent by node id, for reveal(): filled as children are handed out. */
  private readonly parents = new Map<string, TreeNode>();

  constructor(private readonly open: (dir: string) => Promise<ModelSummary>, private readonly folders: () => string[]) {}

  /** Forgets every summary: the next render asks the sidecar again. */
  refresh(): void {
    this.summaries.clear();
    this.parents.clear();
    this.changed.fire(undefined);
  }

  private node(dir: string): Promise<TreeNode> {
    let p = this.summaries.get(dir);
    if (!p) {
      p = this.open(dir).then(buildModelTree, (e: Error) => errorNode(dir, e.message));
      this.summaries.set(dir, p);
    }
    return p;
  }

  async getChildren(element?: TreeNode): Promise<TreeNode[]> {
    if (!element) return Promise.all(this.folders().map((d) => this.node(d)));
    for (const c of element.children ?? []) this.parents.set(c.id, element);
    return element.children ?? [];
  }

  getParent(n: TreeNode): TreeNode | undefined {
    return this.parents.get(n.id);
  }

  /** The node of a decoder layer or matrix of a checkpoint, for reveal(). */
  async find(dir: string, match: (n: TreeNode) => boolean): Promise<TreeNode | undefined> {
    const walk = async (n: TreeNode): Promise<TreeNode | undefined> => {
      if (match(n)) return n;
      for (const c of await this.getChildren(n)) {
        const hit = await walk(c);
        if (hit) return hit;
      }
      return undefined;
    };
    return this.folders().includes(dir) ? walk(await this.node(dir)) : undefined;
  }

  /** The root nodes with their subtrees, as the view shows them (for tests and other extensions). */
  async snapshot(): Promise<TreeNode[]> {
    return this.getChildren();
  }

  getTreeItem(n: TreeNode): vscode.TreeItem {
    const collapsible = n.children?.length
      ? (n.kind === 'checkpoint' ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.Collapsed)
      : vscode.TreeItemCollapsibleState.None;
    const item = new vscode.TreeItem(n.label, collapsible);
    item.id = n.id;
    item.description = n.description;
    item.tooltip = n.tooltip;
    item.contextValue = n.kind;
    item.iconPath = new vscode.ThemeIcon({ checkpoint: 'package', group: 'symbol-namespace', layer: 'layers', matrix: 'symbol-array', tensor: 'symbol-field', error: 'error' }[n.kind]);
    if (n.kind === 'checkpoint' || n.kind === 'error') item.resourceUri = vscode.Uri.file(n.dir);
    return item;
  }
}
