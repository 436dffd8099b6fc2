#include <iostream>

struct Node {
    int value;
    Node* next;
};

class LinkedList {
public:
    ~LinkedList() {
        while (head_ != nullptr) {
            Node* old = head_;
            head_ = head_->next;
            delete old;
        }
    }
    void pushFront(int value) { head_ = new Node{value, head_}; }
    void reverse() {
        Node* previous = nullptr;
        while (head_ != nullptr) {
            Node* following = head_->next;
            head_->next = previous;
            previous = head_;
            head_ = following;
        }
        head_ = previous;
    }
    void print() const {
        for (Node* n = head_; n != nullptr; n = n->next) {
            std::cout << n->value << " -> ";
        }
        std::cout << "null" << std::endl;
    }

private:
    Node* head_ = nullptr;
};

int main() {
    LinkedList list;
    for (int i = 1; i <= 5; ++i) {
        list.pushFront(i * 3);
    }
    list.print();
    list.reverse();
    list.print();
    return 0;
}
